package docs

import _ "embed"

// specJSON is swagger.json as swag generated it.
//
//go:embed swagger.json
var specJSON []byte

// JSON is the generated Swagger 2.0 document, byte for byte the
// swagger.json beside it: what /swagger/doc.json serves and what the
// server checks query parameters against. (docs.go's template would
// serve an empty host and schemes list, which Swagger 2.0 forbids.)
func JSON() []byte { return specJSON }
