package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"example.com/crm/readapi"
)

// Analytics serves the deal summary and funnel (API.md §4, Analytics).
// Its routes expect an authenticated actor and a resolved tenant in the
// request context: mount them behind the authentication and organization
// middleware. Answers read their writes unless the request says
// `Consistency: eventual`.
type Analytics struct {
	Queries readapi.Analytics
}

// Mount registers the analytics routes on r (a subrouter under /api/v1
// whose requests already carry an actor and a tenant). They take no query
// parameter (Accepts).
func (a Analytics) Mount(r *mux.Router) {
	r.Handle("/analytics/deals/summary", ChecksAccess(Accepts(a.summary))).Methods(http.MethodGet)
	r.Handle("/analytics/deals/funnel", ChecksAccess(Accepts(a.funnel))).Methods(http.MethodGet)
}

func (a Analytics) summary(w http.ResponseWriter, r *http.Request) error {
	org, err := orgID(r)
	if err != nil {
		return err
	}
	s, err := a.Queries.DealSummary(queryContext(r), org)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, s)
}

func (a Analytics) funnel(w http.ResponseWriter, r *http.Request) error {
	org, err := orgID(r)
	if err != nil {
		return err
	}
	f, err := a.Queries.DealFunnel(queryContext(r), org)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, f)
}
