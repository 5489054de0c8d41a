// Package services holds huizong's rules and domain types: the organisation
// tree, users and roles, sign-in and tokens. It knows nothing of HTTP or of
// the stores; it declares the small storage interfaces it needs next to the
// code that uses them, and the repository packages implement them.
package services
