// Package httpapi is the HTTP edge shared by every route: the one table
// that turns a crm.Code into an HTTP status, RFC 9457 problem bodies,
// strict JSON decoding, path and query parsing with proper 400s, and the
// middleware every request passes through (request id, access log,
// metrics, panic recovery, CORS, trailing slash, body limit, content
// type).
//
// Behind /api/v1 (NewAPI), Authenticate checks the bearer token and the
// user on every request, Tenant and TenantFromPath resolve the
// organization against the memberships table on every request (never
// cached), and Idempotent with Respond gives POSTs their Idempotency-Key
// replay. Route groups mount on API.Authenticated or API.OrgScoped.
//
// Handlers return an error instead of writing one (see HandlerFunc), so
// that every failure reaches the client through WriteError and looks the
// same. Each middleware has the shape func(http.Handler) http.Handler and
// lives in its own file with its own test; Chain composes them.
//
// A typical wiring, outermost first:
//
//	router := mux.NewRouter()
//	router.NotFoundHandler = httpapi.NotFound(router)
//	router.MethodNotAllowedHandler = httpapi.MethodNotAllowed(router)
//	router.Use(httpapi.RecordRoute)
//	metrics, err := httpapi.NewMetrics(registry)
//	...
//	h := httpapi.Chain(router,
//		httpapi.RequestID,         // every later log line and error carries the id
//		httpapi.Logger(logger),    // WriteError logs 500 causes with this logger
//		httpapi.AccessLog(logger), // sees the final status, even after a panic
//		metrics.Middleware,
//		httpapi.Recover(logger),   // inside the log and metrics so they count the 500
//		httpapi.CORS(origins),
//		httpapi.StripTrailingSlash,
//		httpapi.BodyLimit(httpapi.MaxBodyBytes),
//		httpapi.RequireJSON,
//	)
package httpapi
