// Package handlers is huizong's HTTP face: the Gin router, its middleware
// (request ids, logging, recovery, limits, CORS, authentication and the
// role policy), and one handler type per resource that decodes a request,
// calls a service and encodes the answer. Errors reach clients only
// through respondError, as RFC 9457 problem+json.
//
//	@title						huizong API
//	@version					1.0
//	@description				huizong (汇总) collects the activity records of a district's schools and rolls them up into the figures of the education bureau's work summary. Errors are RFC 9457 application/problem+json, in Chinese unless Accept-Language prefers English.
//	@BasePath					/
//	@securityDefinitions.apikey	BearerAuth
//	@in							header
//	@name						Authorization
//	@description				Access token from POST /auth/login, as "Bearer <token>".
package handlers
