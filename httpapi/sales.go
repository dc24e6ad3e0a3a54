package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/audit"
	"example.com/crm/commands"
	"example.com/crm/readapi"
)

// Sales serves contacts, deals, tasks, the deal timeline and audit replay
// (API.md §4). Its routes expect an authenticated actor and a resolved
// tenant in the request context: mount them behind the authentication and
// organization middleware.
type Sales struct {
	Commands *commands.Application
	Queries  readapi.Queries
	Audit    audit.Deals
}

// Mount registers the sales routes on r (a subrouter under /api/v1 whose
// requests already carry an actor and a tenant).
func (s Sales) Mount(r *mux.Router) {
	// h declares the query parameters each handler reads (Accepts): any
	// other is a 400.
	h := func(f HandlerFunc, params ...string) http.Handler { return Accepts(f, params...) }
	// w marks the writes, q the read-model queries: the statements
	// serving them check the caller's role themselves (the append at
	// commit, pgread ahead of its query), so they may start on the role
	// last read (ChecksAccess). History and replays read the event store
	// and take h (a replay, GET /deals/{id}?version=, is confirmed by a read after it).
	w := func(f HandlerFunc) http.Handler { return ChecksAccess(Accepts(f)) }
	q := func(f HandlerFunc, params ...string) http.Handler { return ChecksAccess(Accepts(f, params...)) }
	r.Handle("/contacts", q(s.listContacts, listParams("search", "owner_id", "order_by", "order")...)).Methods(http.MethodGet)
	r.Handle("/contacts", w(createHandler(s.Commands.CreateContact, createContactBody.input, "/contacts/", contactReply,
		func(r *http.Request, b createContactBody) error { return mayAssign(r, b.OwnerID, "contact") }))).Methods(http.MethodPost)
	r.Handle("/contacts/{id}", q(getHandler(s.Queries.GetContact, func(c readapi.Contact) int { return c.Version }))).Methods(http.MethodGet)
	r.Handle("/contacts/{id}", w(patchHandler(s.Commands.UpdateContact, patchContactBody.patch, contactReply, s.mayChangeContact))).Methods(http.MethodPatch)
	r.Handle("/contacts/{id}", w(deleteHandler(s.Commands.DeleteContact, s.mayChangeContact))).Methods(http.MethodDelete)

	r.Handle("/deals", q(s.listDeals, listParams("status", "stage", "owner_id", "contact_id", "currency", "min_amount", "max_amount", "search", "created_after", "created_before", "order_by", "order")...)).Methods(http.MethodGet)
	r.Handle("/deals", w(createHandler(s.Commands.CreateDeal, createDealBody.input, "/deals/", dealReply,
		func(r *http.Request, b createDealBody) error { return mayAssign(r, b.OwnerID, "deal") }))).Methods(http.MethodPost)
	r.Handle("/deals/{id}", q(s.getDeal, "version", "as_of")).Methods(http.MethodGet)
	r.Handle("/deals/{id}", w(patchHandler(s.Commands.UpdateDeal, patchDealBody.patch, dealReply, s.mayChangeDeal))).Methods(http.MethodPatch)
	r.Handle("/deals/{id}", w(deleteHandler(s.Commands.DeleteDeal, s.mayChangeDeal))).Methods(http.MethodDelete)
	r.Handle("/deals/{id}/history", h(s.dealHistory, listParams()...)).Methods(http.MethodGet)
	r.Handle("/deals/{id}/activities", q(s.listActivities, listParams("type", "order")...)).Methods(http.MethodGet)
	r.Handle("/deals/{id}/activities", w(s.postActivity)).Methods(http.MethodPost)

	r.Handle("/tasks", q(s.listTasks, listParams("deal_id", "only_open", "due_before", "due_after", "order_by", "order")...)).Methods(http.MethodGet)
	r.Handle("/tasks", w(createHandler(s.createTask, createTaskBody.taskInput, "/tasks/", taskReply, s.mayAddTask))).Methods(http.MethodPost)
	r.Handle("/tasks/{id}", q(getHandler(s.Queries.GetTask, func(t readapi.Task) int { return t.Version }))).Methods(http.MethodGet)
	// A task of a deleted deal is gone for every verb (404), like its deal:
	// the read model says so for GET, the command (from the deal's stream,
	// under its version guard) for PATCH and DELETE.
	r.Handle("/tasks/{id}", w(patchHandler(s.Commands.UpdateTask, patchTaskBody.patch, taskReply, s.mayChangeTask))).Methods(http.MethodPatch)
	r.Handle("/tasks/{id}", w(deleteHandler(s.Commands.DeleteTask, s.mayChangeTask))).Methods(http.MethodDelete)
}

// --- contacts ---

func (s Sales) listContacts(w http.ResponseWriter, r *http.Request) error {
	org, err := orgID(r)
	if err != nil {
		return err
	}
	var f readapi.ContactFilter
	var p problems
	f.Page = paging(r, &p)
	f.Search = single(r, "search", &p)
	f.OwnerID = queryUUID(r, "owner_id", &p)
	f.OrderBy = readapi.ContactOrderBy(single(r, "order_by", &p))
	f.Order = readapi.Order(single(r, "order", &p))
	if err := p.err(); err != nil {
		return err
	}
	list, err := s.Queries.ListContacts(queryContext(r), org, f)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, list)
}

// --- deals ---

func (s Sales) getDeal(w http.ResponseWriter, r *http.Request) error {
	org, id, err := orgAndID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Has("version") || q.Has("as_of") {
		return s.dealAt(w, r, org, id)
	}
	d, err := s.Queries.GetDeal(queryContext(r), org, id)
	if err != nil {
		return err
	}
	return ok(w, d.Version, d)
}

// dealAt answers GET /deals/{id}?version=N or ?as_of=T: the deal rebuilt
// by replaying its events, with as_of_version.
func (s Sales) dealAt(w http.ResponseWriter, r *http.Request, org, id uuid.UUID) error {
	var p problems
	vs, vSet, vErr := queryValue(r, "version")
	ts, tSet, tErr := queryValue(r, "as_of")
	for _, err := range []error{vErr, tErr} {
		if err != nil {
			p.fields = append(p.fields, fieldsOf(err)...)
		}
	}
	if err := p.err(); err != nil {
		return refusedAfter(r, id, s.pastReadable, err)
	}
	if vSet == tSet {
		if vSet {
			p.add("version", "give version or as_of, not both")
		} else {
			p.add("version", "give version (a whole number ≥ 1) or as_of (an RFC 3339 timestamp)")
		}
		return refusedAfter(r, id, s.pastReadable, p.err())
	}
	var version int
	var asOf time.Time
	if vSet {
		// Versions are 32-bit in the store: anything larger is malformed,
		// not an internal error.
		v, err := strconv.ParseInt(vs, 10, 32)
		if err != nil || v < 1 {
			p.add("version", "must be a whole number between 1 and 2147483647")
		}
		version = int(v)
	} else {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			p.add("as_of", "must be an RFC 3339 timestamp")
		}
		asOf = t
	}
	if err := p.err(); err != nil {
		return refusedAfter(r, id, s.pastReadable, err)
	}
	tenant, err := crm.TenantFrom(r.Context())
	if err != nil {
		return err
	}
	at, err := s.Audit.DealAt(r.Context(), org, id, tenant.Role, version, asOf)
	if err != nil {
		return err
	}
	body := struct {
		readapi.Deal
		AsOfVersion int `json:"as_of_version"`
	}{DealView(at.Deal), at.AsOfVersion}
	return ok(w, at.Deal.Version, body)
}

func (s Sales) listDeals(w http.ResponseWriter, r *http.Request) error {
	org, err := orgID(r)
	if err != nil {
		return err
	}
	var f readapi.DealFilter
	var p problems
	f.Page = paging(r, &p)
	f.Statuses = enums(r, "status", aggregates.DealStatuses(), &p)
	f.Stages = enums(r, "stage", aggregates.DealStages(), &p)
	f.OwnerID = queryUUID(r, "owner_id", &p)
	f.ContactID = queryUUID(r, "contact_id", &p)
	if c := single(r, "currency", &p); c != "" {
		f.Currency = p.currency(c)
	}
	f.MinAmount = queryAmount(r, "min_amount", &p)
	f.MaxAmount = queryAmount(r, "max_amount", &p)
	f.Search = single(r, "search", &p)
	f.CreatedAfter = queryTime(r, "created_after", &p)
	f.CreatedBefore = queryTime(r, "created_before", &p)
	f.OrderBy = readapi.DealOrderBy(single(r, "order_by", &p))
	f.Order = readapi.Order(single(r, "order", &p))
	if err := p.err(); err != nil {
		return err
	}
	list, err := s.Queries.ListDeals(queryContext(r), org, f)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, list)
}

// historyEntry is one event of GET /deals/{id}/history.
type historyEntry struct {
	audit.Entry
	OccurredAt readapi.Time `json:"occurred_at"`
}

func (s Sales) dealHistory(w http.ResponseWriter, r *http.Request) error {
	org, id, err := orgAndID(r)
	if err != nil {
		return err
	}
	var p problems
	page := paging(r, &p)
	if err := p.err(); err != nil {
		return refusedAfter(r, id, s.pastReadable, err)
	}
	tenant, err := crm.TenantFrom(r.Context())
	if err != nil {
		return err
	}
	entries, total, err := s.Audit.History(r.Context(), org, id, tenant.Role, page.Page, page.PageSize)
	if err != nil {
		return err
	}
	items := make([]historyEntry, len(entries))
	for i, e := range entries {
		items[i] = historyEntry{Entry: e, OccurredAt: readapi.NewTime(e.OccurredAt)}
	}
	return WriteJSON(w, http.StatusOK, readapi.List[historyEntry]{Items: items, Total: int64(total), Page: page.Page, PageSize: page.PageSize})
}

// --- activities ---

func (s Sales) listActivities(w http.ResponseWriter, r *http.Request) error {
	org, id, err := orgAndID(r)
	if err != nil {
		return err
	}
	var f readapi.ActivityFilter
	var p problems
	f.Page = paging(r, &p)
	f.Types = enums(r, "type", readapi.ActivityTypes(), &p)
	f.Order = readapi.Order(single(r, "order", &p))
	if err := p.err(); err != nil {
		return refusedAfter(r, id, s.dealVisible, err) // another organization's deal: 404 first
	}
	list, err := s.Queries.ListActivities(queryContext(r), org, id, f)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, list)
}

func (s Sales) postActivity(w http.ResponseWriter, r *http.Request) error {
	id, err := PathUUID(r, "id")
	if err != nil {
		return err
	}
	var b commentBody
	if err := Decode(r, &b); err != nil {
		return refusedAfter(r, id, s.dealVisible, err)
	}
	text, err := b.text()
	if err != nil {
		return refusedAfter(r, id, s.dealVisible, err)
	}
	ctx, send := Respond(r, func(c commands.Comment) Reply {
		return Reply{Status: http.StatusCreated, Location: BasePath + "/deals/" + c.DealID.String() + "/activities", Body: CommentView(c)}
	})
	cm, res, err := s.Commands.CommentOnDeal(ctx, id, text)
	if err != nil {
		return err
	}
	return send(w, cm, res)
}

// --- tasks ---

func (s Sales) listTasks(w http.ResponseWriter, r *http.Request) error {
	org, err := orgID(r)
	if err != nil {
		return err
	}
	var f readapi.TaskFilter
	var p problems
	f.Page = paging(r, &p)
	f.DealID = queryUUID(r, "deal_id", &p)
	if v, set, err := QueryBool(r, "only_open"); err != nil {
		p.add("only_open", "must be true or false")
	} else if set {
		f.OnlyOpen = v
	}
	f.DueBefore = queryDate(r, "due_before", &p)
	f.DueAfter = queryDate(r, "due_after", &p)
	f.OrderBy = readapi.TaskOrderBy(single(r, "order_by", &p))
	f.Order = readapi.Order(single(r, "order", &p))
	if err := p.err(); err != nil {
		return err
	}
	list, err := s.Queries.ListTasks(queryContext(r), org, f)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, list)
}

// --- shared helpers ---

// createHandler answers POST /{things}: decode the body strictly into B,
// turn it into the command's input, run the command (recording the answer
// for an Idempotency-Key) and answer 201 with Location and ETag. A body
// that decodes but is refused (a 400) is first asked may, the entity
// (404) and role (403) checks API.md puts before the body's, as far as
// the body names what they need (the new entity's owner, a task's deal).
func createHandler[B any, In any, T any](
	create func(ctx context.Context, in In) (T, commands.Result, error),
	toInput func(B) (In, error),
	path string,
	reply func(T) entity,
	may func(r *http.Request, b B) error,
) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var b B
		if err := Decode(r, &b); err != nil {
			return err
		}
		in, err := toInput(b)
		if err != nil {
			if StatusOf(err) == http.StatusBadRequest {
				if merr := may(r, b); merr != nil {
					return merr
				}
			}
			return err
		}
		ctx, send := Respond(r, func(v T) Reply {
			e := reply(v)
			return Reply{Status: http.StatusCreated, Location: BasePath + path + e.id.String(), Version: e.version, Body: e.body}
		})
		v, res, err := create(ctx, in)
		if err != nil {
			return err
		}
		return send(w, v, res)
	}
}

// patchHandler answers PATCH /{things}/{id}: decode the body strictly into
// B, turn it into the aggregate's patch P, run the update command under
// If-Match, and answer the entity with its ETag.
//
// API.md's order of checks puts the entity (404) and the caller's right
// to change it (403) before the body (400). The command decides both, but
// only once it has a valid patch; so when the body or If-Match is bad,
// may (the same rules, read from the read model) is asked first, and its
// 404 or 403 wins over the 400. live, when set, runs before every update
// (tasks: a task of a deleted deal is gone, which the command does not
// check).
func patchHandler[B any, P any, T any](
	update func(ctx context.Context, id uuid.UUID, p P, ifMatch commands.IfMatch) (T, commands.Result, error),
	toPatch func(B) (P, error),
	reply func(T) entity,
	may func(r *http.Request, id uuid.UUID) error,
) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := PathUUID(r, "id")
		if err != nil {
			return err
		}
		ifMatch, err := ifMatchVersion(r)
		var p P
		if err == nil {
			var b B
			if err = Decode(r, &b); err == nil {
				p, err = toPatch(b)
			}
		}
		if err != nil {
			return refusedAfter(r, id, may, err)
		}
		v, res, err := update(r.Context(), id, p, ifMatch)
		if err != nil {
			return err
		}
		setPosition(w, res)
		e := reply(v)
		return ok(w, e.version, e.body)
	}
}

// refusedAfter answers a request on entity id refused before its command
// could decide (err): when err is a 400, may's 404 or 403 comes first, as
// API.md orders the checks.
func refusedAfter(r *http.Request, id uuid.UUID, may func(r *http.Request, id uuid.UUID) error, err error) error {
	if StatusOf(err) == http.StatusBadRequest {
		if merr := may(r, id); merr != nil {
			return merr
		}
	}
	return err
}

// requestCaller is the request's caller as the aggregates see one.
func requestCaller(r *http.Request) (aggregates.Caller, error) {
	tenant, err := crm.TenantFrom(r.Context())
	if err != nil {
		return aggregates.Caller{}, err
	}
	actor, err := crm.ActorFrom(r.Context())
	if err != nil {
		return aggregates.Caller{}, err
	}
	return aggregates.Caller{UserID: actor.UserID, Role: tenant.Role}, nil
}

// mayAssign answers 403 when the caller may not make owner (when set)
// the owner of a new entity (API.md §3: members assign to themselves
// only), as the aggregates decide it.
func mayAssign(r *http.Request, owner *uuid.UUID, what string) error {
	if owner == nil {
		return nil
	}
	c, err := requestCaller(r)
	if err != nil {
		return err
	}
	return c.MayAssignTo(*owner, what)
}

// mayAddTask is a new task's deal (404) and the caller's right to manage
// its tasks (403), from the read model, when the body names the deal.
func (s Sales) mayAddTask(r *http.Request, b createTaskBody) error {
	if b.DealID == nil {
		return nil
	}
	org, err := orgID(r)
	if err != nil {
		return err
	}
	d, err := s.Queries.GetDeal(queryContext(r), org, *b.DealID)
	if err != nil {
		return err
	}
	return mayChange(r, d.OwnerID, "deals' tasks")
}

// mayChange answers, from the read model, whether the caller may change an
// entity owned by owner (API.md §3: owner, admin and manager any; member
// own only).
func mayChange(r *http.Request, owner uuid.UUID, what string) error {
	c, err := requestCaller(r)
	if err != nil {
		return err
	}
	if !c.CanActOn(owner) {
		return crm.Errorf(crm.CodeForbidden, "members may change their own %s only", what)
	}
	return nil
}

func (s Sales) mayChangeContact(r *http.Request, id uuid.UUID) error {
	org, err := orgID(r)
	if err != nil {
		return err
	}
	c, err := s.Queries.GetContact(queryContext(r), org, id)
	if err != nil {
		return err
	}
	return mayChange(r, c.OwnerID, "contacts")
}

// pastReadable is the 404 of a deal's history and replay, and the 403 of
// a deleted deal's for roles below admin (audit.Deals.MayRead): a deleted
// deal keeps its past, which dealVisible would call not found.
func (s Sales) pastReadable(r *http.Request, id uuid.UUID) error {
	org, err := orgID(r)
	if err != nil {
		return err
	}
	tenant, err := crm.TenantFrom(r.Context())
	if err != nil {
		return err
	}
	return s.Audit.MayRead(r.Context(), org, id, tenant.Role)
}

// dealVisible is the deal's 404 (any member may comment on a deal).
func (s Sales) dealVisible(r *http.Request, id uuid.UUID) error {
	org, err := orgID(r)
	if err != nil {
		return err
	}
	_, err = s.Queries.GetDeal(queryContext(r), org, id)
	return err
}

func (s Sales) mayChangeDeal(r *http.Request, id uuid.UUID) error {
	org, err := orgID(r)
	if err != nil {
		return err
	}
	d, err := s.Queries.GetDeal(queryContext(r), org, id)
	if err != nil {
		return err
	}
	return mayChange(r, d.OwnerID, "deals")
}

// mayChangeTask is NOT_FOUND for a task that was deleted, or whose deal
// was, and FORBIDDEN for a member whose deal it is not.
func (s Sales) mayChangeTask(r *http.Request, id uuid.UUID) error {
	org, err := orgID(r)
	if err != nil {
		return err
	}
	ctx := queryContext(r)
	t, err := s.Queries.GetTask(ctx, org, id)
	if err != nil {
		return err
	}
	d, err := s.Queries.GetDeal(ctx, org, t.DealID)
	if crm.ErrorCode(err) == crm.CodeDealNotFound {
		return crm.Errorf(crm.CodeNotFound, "task %s not found", id)
	}
	if err != nil {
		return err
	}
	return mayChange(r, d.OwnerID, "deals' tasks")
}

// getHandler answers GET /{things}/{id} from the read model, with its
// ETag.
func getHandler[T any](query func(ctx context.Context, org, id uuid.UUID) (T, error), version func(T) int) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		org, id, err := orgAndID(r)
		if err != nil {
			return err
		}
		v, err := query(queryContext(r), org, id)
		if err != nil {
			return err
		}
		return ok(w, version(v), v)
	}
}

// deleteHandler answers DELETE /{things}/{id} under If-Match with 204.
// A malformed If-Match is a 400 after may's 404 or 403, as in
// patchHandler.
func deleteHandler(remove func(ctx context.Context, id uuid.UUID, ifMatch commands.IfMatch) (commands.Result, error),
	may func(r *http.Request, id uuid.UUID) error,
) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := PathUUID(r, "id")
		if err != nil {
			return err
		}
		ifMatch, err := ifMatchVersion(r)
		if err != nil {
			return refusedAfter(r, id, may, err)
		}
		res, err := remove(r.Context(), id, ifMatch)
		if err != nil {
			return err
		}
		return noContent(w, res)
	}
}

// entity is a command's resulting entity as a response carries it.
type entity struct {
	id      uuid.UUID
	version int
	body    any
}

func contactReply(c aggregates.Contact) entity { return entity{c.ID, c.Version, ContactView(c)} }
func dealReply(d aggregates.Deal) entity       { return entity{d.ID, d.Version, DealView(d)} }
func taskReply(t aggregates.Task) entity       { return entity{t.ID, t.Version, TaskView(t)} }

// newTask is the input of POST /tasks: the deal and the task.
type newTask struct {
	deal uuid.UUID
	in   aggregates.TaskInput
}

func (b createTaskBody) taskInput() (newTask, error) {
	deal, in, err := b.input()
	return newTask{deal, in}, err
}

func (s Sales) createTask(ctx context.Context, t newTask) (aggregates.Task, commands.Result, error) {
	return s.Commands.CreateTask(ctx, t.deal, t.in)
}

// queryContext marks the request's queries eventually consistent when the
// client sent `Consistency: eventual`; otherwise they read their writes.
func queryContext(r *http.Request) context.Context {
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("Consistency")), "eventual") {
		return readapi.WithEventualConsistency(r.Context())
	}
	return r.Context()
}

func orgID(r *http.Request) (uuid.UUID, error) {
	t, err := crm.TenantFrom(r.Context())
	return t.OrgID, err
}

func orgAndID(r *http.Request) (uuid.UUID, uuid.UUID, error) {
	org, err := orgID(r)
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	id, err := PathUUID(r, "id")
	return org, id, err
}

// ifMatchVersion reads If-Match: `"<version>"`, its weak form
// `W/"<version>"`, or `*` (any version). The version is the canonical
// decimal of a 32-bit entity version (no sign, no leading zero). Anything
// else (no quotes, a list of tags, the header given twice, a number that
// cannot be a version) is a 400, never a 412: the client's request is
// malformed, not stale.
func ifMatchVersion(r *http.Request) (commands.IfMatch, error) {
	vs := r.Header.Values("If-Match")
	if len(vs) == 0 {
		return nil, nil
	}
	bad := &crm.Error{Code: crm.CodeValidation, Message: `If-Match must be an entity tag such as "3" (or *)`,
		Fields: []crm.FieldError{{Field: "If-Match", Message: `must be one entity tag such as "3", W/"3" or *`}}}
	if len(vs) > 1 {
		return nil, bad
	}
	v := strings.Trim(vs[0], " \t")
	if v == "*" {
		return nil, nil
	}
	v = strings.TrimPrefix(v, "W/")
	if len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, bad
	}
	digits := v[1 : len(v)-1]
	if digits == "" || (len(digits) > 1 && digits[0] == '0') || strings.TrimLeft(digits, "0123456789") != "" {
		return nil, bad
	}
	n, err := strconv.ParseInt(digits, 10, 32)
	if err != nil {
		return nil, bad
	}
	version := int(n)
	return &version, nil
}

func setETag(w http.ResponseWriter, version int) {
	w.Header().Set("ETag", `"`+strconv.Itoa(version)+`"`)
}

func setPosition(w http.ResponseWriter, res commands.Result) {
	if res.Position > 0 {
		w.Header().Set("X-Event-Position", strconv.FormatInt(res.Position, 10))
	}
}

func ok(w http.ResponseWriter, version int, body any) error {
	setETag(w, version)
	return WriteJSON(w, http.StatusOK, body)
}

func noContent(w http.ResponseWriter, res commands.Result) error {
	setPosition(w, res)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func paging(r *http.Request, p *problems) readapi.Page {
	page, size, err := Paging(r)
	if err != nil {
		p.fields = append(p.fields, fieldsOf(err)...)
	}
	return readapi.Page{Page: page, PageSize: size}
}

func fieldsOf(err error) []crm.FieldError {
	if e, ok := err.(*crm.Error); ok && len(e.Fields) > 0 {
		return e.Fields
	}
	return []crm.FieldError{{Field: "query", Message: crm.ErrorMessage(err)}}
}

func queryUUID(r *http.Request, name string, p *problems) uuid.UUID {
	id, _, err := QueryUUID(r, name)
	if err != nil {
		p.fields = append(p.fields, fieldsOf(err)...)
	}
	return id
}

func queryTime(r *http.Request, name string, p *problems) time.Time {
	t, _, err := QueryTime(r, name)
	if err != nil {
		p.fields = append(p.fields, fieldsOf(err)...)
	}
	return t
}

func queryDate(r *http.Request, name string, p *problems) time.Time {
	t, _, err := QueryDate(r, name)
	if err != nil {
		p.fields = append(p.fields, fieldsOf(err)...)
	}
	return t
}

// single returns the one value of a single-valued query parameter ("" when
// absent or empty); given twice, it is a problem.
func single(r *http.Request, name string, p *problems) string {
	v, _, err := queryValue(r, name)
	if err != nil {
		p.fields = append(p.fields, fieldsOf(err)...)
	}
	return v
}

func queryAmount(r *http.Request, name string, p *problems) *crm.Amount {
	v := single(r, name, p)
	if v == "" {
		return nil
	}
	a, err := crm.ParseAmountString(v)
	if err != nil {
		p.add(name, "must be a non-negative plain decimal with at most 2 fraction digits")
		return nil
	}
	return &a
}

func enums(r *http.Request, name string, allowed []string, p *problems) []string {
	vs, err := QueryEnums(r, name, allowed...)
	if err != nil {
		p.fields = append(p.fields, fieldsOf(err)...)
	}
	return vs
}
