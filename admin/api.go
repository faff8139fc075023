package admin

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// route is one API route; openapi.yaml must document every one (a test
// checks).
type route struct {
	method, path string
	handler      http.HandlerFunc
	pattern      string
}

func (a *Server) apiRoutes() []route {
	rs := []route{
		{method: "GET", path: "/api/status", handler: a.getStatus},
		{method: "GET", path: "/api/dashboard", handler: a.getDashboard},
		{method: "GET", path: "/api/registrations", handler: a.getRegistrations},
		{method: "DELETE", path: "/api/registrations/{user}", handler: a.deleteRegistrations},
		{method: "GET", path: "/api/users", handler: a.getUsers},
		{method: "POST", path: "/api/users", handler: a.postUser},
		{method: "PUT", path: "/api/users/{name}", handler: a.putUser},
		{method: "DELETE", path: "/api/users/{name}", handler: a.deleteUser},
		{method: "GET", path: "/api/bans", handler: a.getBans},
		{method: "DELETE", path: "/api/bans/{source}", handler: a.deleteBan},
		{method: "GET", path: "/api/calls/recent", handler: a.getRecentCalls},
		{method: "GET", path: "/api/calls/{callid}/messages", handler: a.getCallMessages},
		{method: "GET", path: "/api/calls/{callid}/pcap", handler: a.getCallPcap},
		{method: "GET", path: "/api/cdrs", handler: a.getCDRs},
		{method: "GET", path: "/api/events", handler: a.events.serve},
	}
	for i := range rs {
		rs[i].pattern = rs[i].method + " " + rs[i].path
	}
	return rs
}

// decodeJSONBytes is decodeJSON over a byte slice (fuzzing, tests).
func decodeJSONBytes(b []byte, v any) error {
	r, _ := http.NewRequest("POST", "/", bytes.NewReader(b))
	return decodeJSON(nil, r, v)
}

// decodeJSON reads a JSON object strictly into v: at most maxBody bytes,
// no unknown fields, no trailing data. The error names the problem.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("Content-Type %q: want application/json", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &mbe):
			return fmt.Errorf("body larger than %d bytes", maxBody)
		case errors.As(err, &te):
			return fmt.Errorf("field %q: want %s, got %s", te.Field, te.Type, te.Value)
		case errors.As(err, &se):
			return fmt.Errorf("body is not JSON: %v (at byte %d)", se, se.Offset)
		case errors.Is(err, io.EOF):
			return errors.New("body is empty: want a JSON object")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return fmt.Errorf("body: %v", err)
	}
	if dec.More() {
		return errors.New("body: data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("body: data after the JSON object")
	}
	return nil
}

func (a *Server) badRequest(w http.ResponseWriter, err error) {
	code := http.StatusBadRequest
	if strings.HasPrefix(err.Error(), "body larger") {
		code = http.StatusRequestEntityTooLarge
	}
	writeError(w, code, "%v", err)
}

// ---- status

type statusDoc struct {
	Version      string            `json:"version"`
	Started      time.Time         `json:"started"`
	Uptime       float64           `json:"uptime_seconds"`
	Domain       string            `json:"domain"`
	Listeners    []string          `json:"listeners"`
	Admin        string            `json:"admin"`
	Counts       statusCounts      `json:"counts"`
	Transport    transport.Stats   `json:"transport"`
	Transactions any               `json:"transactions"`
	Stages       map[string]uint64 `json:"stages"`
}

type statusCounts struct {
	Registrations    int   `json:"registrations"`
	Users            int   `json:"users"`
	TransactionsLive int64 `json:"transactions_live"`
	BansActive       int   `json:"bans_active"`
	CallsCaptured    int   `json:"calls_captured"`
}

func (a *Server) counts(r *http.Request) statusCounts {
	c := statusCounts{}
	c.Registrations, _ = a.srv.Store().Count(r.Context())
	c.Users = len(a.users.list())
	c.TransactionsLive = a.srv.Transactions().Stats().Live
	if g := a.srv.Guard(); g != nil {
		c.BansActive = g.Stats().BansActive
	}
	if a.capture != nil {
		c.CallsCaptured = a.capture.Stats().Calls
	}
	return c
}

func (a *Server) getStatus(w http.ResponseWriter, r *http.Request) {
	d := statusDoc{Version: a.version, Started: a.srv.Started().UTC(), Domain: a.srv.Config().Domain,
		Uptime: a.now().Sub(a.srv.Started()).Seconds(), Counts: a.counts(r),
		Transport: a.srv.Transport().Stats(), Transactions: a.srv.Transactions().Stats(), Stages: map[string]uint64{}}
	for _, l := range a.srv.Addrs() {
		d.Listeners = append(d.Listeners, l.String())
	}
	if ad := a.Addr(); ad != nil {
		d.Admin = ad.String()
	}
	for _, st := range a.srv.Stages() {
		d.Stages[st.Name] = st.Ended
	}
	writeJSON(w, http.StatusOK, d)
}

type dashboardDoc struct {
	statusCounts
	CallsLastMinute int            `json:"calls_last_minute"`
	FinalStatuses   map[string]int `json:"final_statuses"` // final status of the captured INVITE dialogs, by code
	Failures        map[string]int `json:"failures"`       // the 4xx-6xx among them
}

func (a *Server) getDashboard(w http.ResponseWriter, r *http.Request) {
	d := dashboardDoc{statusCounts: a.counts(r), FinalStatuses: map[string]int{}, Failures: map[string]int{}}
	if a.capture != nil {
		now := a.now()
		for _, c := range a.capture.Calls(0) {
			s := summarize(c)
			if s.Method != sip.INVITE {
				continue
			}
			if now.Sub(c.First) < time.Minute {
				d.CallsLastMinute++
			}
			if s.Status >= 200 {
				k := strconv.Itoa(s.Status)
				d.FinalStatuses[k]++
				if s.Status >= 400 {
					d.Failures[k]++
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, d)
}

// ---- registrations

type registrationDoc struct {
	AOR        string    `json:"aor"`
	User       string    `json:"user"`
	Contact    string    `json:"contact"`
	Source     string    `json:"source"`
	Local      string    `json:"local"`
	Transport  string    `json:"transport"`
	UserAgent  string    `json:"user_agent"`
	Expires    time.Time `json:"expires"`
	ExpiresIn  int       `json:"expires_in"`
	Q          string    `json:"q"`
	InstanceID string    `json:"instance_id,omitempty"`
	RegID      uint32    `json:"reg_id,omitempty"`
	CallID     string    `json:"call_id"`
	Updated    time.Time `json:"updated"`
}

type registrationsPage struct {
	Total         int               `json:"total"`
	Registrations []registrationDoc `json:"registrations"`
	Next          string            `json:"next,omitempty"` // the cursor of the next page; absent on the last
}

// userOf returns the user part of "sip:user@domain".
func userOf(aor string) string {
	s := strings.TrimPrefix(aor, "sip:")
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[:i]
	}
	return ""
}

const (
	defaultPage = 100
	maxPage     = 1000
)

func pageLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultPage, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPage {
		return 0, fmt.Errorf("limit %q: want a number 1..%d", v, maxPage)
	}
	return n, nil
}

// regKey orders bindings in listings: by AOR, then contact, then flow.
type regKey struct {
	aor, contact, instance string
	regID                  uint32
}

func keyOf(b *location.Binding) regKey {
	return regKey{b.AOR, b.Contact, b.InstanceID, b.RegID}
}

func (k regKey) compare(o regKey) int {
	if c := strings.Compare(k.aor, o.aor); c != 0 {
		return c
	}
	if c := strings.Compare(k.contact, o.contact); c != 0 {
		return c
	}
	if c := strings.Compare(k.instance, o.instance); c != 0 {
		return c
	}
	return cmp.Compare(k.regID, o.regID)
}

// encode makes the opaque cursor of a key.
func (k regKey) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(k.aor + "\x00" + k.contact + "\x00" + k.instance + "\x00" + strconv.FormatUint(uint64(k.regID), 10)))
}

func decodeCursor(c string) (regKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return regKey{}, err
	}
	parts := strings.Split(string(b), "\x00")
	if len(parts) != 4 {
		return regKey{}, errors.New("bad cursor")
	}
	id, err := strconv.ParseUint(parts[3], 10, 32)
	if err != nil {
		return regKey{}, err
	}
	return regKey{parts[0], parts[1], parts[2], uint32(id)}, nil
}

// getRegistrations lists the bindings ordered by AOR and contact, a page
// at a time: the cursor is the (opaque) key of the last binding of the
// page before, so pages stay right while bindings come and go. One pass
// over the store keeps only the page's bindings (the smallest keys after
// the cursor, in a sorted slice of limit+1), so a page of 100 out of
// 100,000 costs one scan, not a sort of everything.
func (a *Server) getRegistrations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := pageLimit(r)
	if err != nil {
		a.badRequest(w, err)
		return
	}
	var after regKey
	hasAfter := false
	if c := q.Get("cursor"); c != "" {
		if after, err = decodeCursor(c); err != nil {
			a.badRequest(w, fmt.Errorf("cursor %q: not a cursor this API returned", c))
			return
		}
		hasAfter = true
	}
	user := q.Get("user")
	for k := range q {
		if k != "limit" && k != "cursor" && k != "user" {
			a.badRequest(w, fmt.Errorf("unknown query parameter %q (want user, limit, cursor)", k))
			return
		}
	}
	type keyed struct {
		key regKey
		b   location.Binding
	}
	page := make([]keyed, 0, limit+1)
	total := 0
	for b, err := range a.srv.Store().All(r.Context()) {
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "location store: %v", err)
			return
		}
		if user != "" && userOf(b.AOR) != user {
			continue
		}
		total++
		k := keyOf(&b)
		if hasAfter && k.compare(after) <= 0 {
			continue
		}
		if len(page) == limit+1 && k.compare(page[limit].key) >= 0 {
			continue
		}
		i, _ := slices.BinarySearchFunc(page, k, func(x keyed, k regKey) int { return x.key.compare(k) })
		if len(page) == limit+1 {
			page = page[:limit]
		}
		page = slices.Insert(page, i, keyed{k, b})
	}
	out := registrationsPage{Total: total, Registrations: []registrationDoc{}}
	if len(page) > limit {
		page = page[:limit]
		out.Next = page[limit-1].key.encode()
	}
	now := a.now()
	for _, k := range page {
		b := k.b
		out.Registrations = append(out.Registrations, registrationDoc{
			AOR: b.AOR, User: userOf(b.AOR), Contact: b.Contact, Source: b.Source.String(), Local: b.Local.String(),
			Transport: b.Transport, UserAgent: b.UserAgent, Expires: b.Expires.UTC(), ExpiresIn: b.ExpiresIn(now),
			Q: location.FormatQ(b.Q), InstanceID: b.InstanceID, RegID: b.RegID, CallID: b.CallID, Updated: b.Updated.UTC(),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteRegistrations unregisters a user's contact (?contact=URI) or all
// of the user's contacts.
func (a *Server) deleteRegistrations(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	if err := validUserName(user); err != nil {
		a.badRequest(w, err)
		return
	}
	aor := "sip:" + user + "@" + strings.ToLower(a.srv.Config().Domain)
	q := r.URL.Query()
	contact := q.Get("contact")
	for k := range q {
		if k != "contact" {
			a.badRequest(w, fmt.Errorf("unknown query parameter %q (want contact)", k))
			return
		}
	}
	if contact != "" {
		if _, err := sip.ParseURI(contact); err != nil {
			a.badRequest(w, fmt.Errorf("contact %q: %v", contact, err))
			return
		}
	}
	bs, err := a.srv.Store().Lookup(r.Context(), aor)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "location store: %v", err)
		return
	}
	n := 0
	for _, b := range bs {
		if contact == "" || b.Matches(&location.Binding{AOR: aor, Contact: contact}) {
			n++
		}
	}
	if n == 0 {
		writeError(w, http.StatusNotFound, "%s has no such registration", aor)
		return
	}
	if contact == "" {
		err = a.srv.Store().RemoveAll(r.Context(), aor)
	} else {
		err = a.srv.Store().Remove(r.Context(), aor, contact)
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "location store: %v", err)
		return
	}
	a.log.Info("admin: unregistered", "aor", aor, "contact", contact, "bindings", n, "principal", principal(r))
	a.events.poke()
	writeJSON(w, http.StatusOK, map[string]any{"aor": aor, "removed": n})
}

// ---- users

type newUserBody struct {
	Name     *string `json:"name"`
	Password *string `json:"password"`
}

type passwordBody struct {
	Password *string `json:"password"`
}

func checkPassword(p *string) error {
	switch {
	case p == nil:
		return errors.New("field \"password\" is required")
	case len(*p) < 8 || len(*p) > 256:
		return errors.New("field \"password\": want 8..256 characters")
	}
	return nil
}

func (a *Server) getUsers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"users": a.users.list()})
}

func (a *Server) userError(w http.ResponseWriter, name string, err error) {
	switch {
	case errors.Is(err, errUserExists):
		writeError(w, http.StatusConflict, "user %s exists", name)
	case errors.Is(err, errUserUnknown):
		writeError(w, http.StatusNotFound, "no user %s", name)
	case errors.Is(err, errUserInConfig):
		writeError(w, http.StatusConflict, "user %s is defined in the config file; change it there", name)
	default:
		writeError(w, http.StatusInternalServerError, "users: %v", err)
	}
}

func (a *Server) postUser(w http.ResponseWriter, r *http.Request) {
	var body newUserBody
	if err := decodeJSON(w, r, &body); err != nil {
		a.badRequest(w, err)
		return
	}
	if body.Name == nil {
		a.badRequest(w, errors.New("field \"name\" is required"))
		return
	}
	if err := validUserName(*body.Name); err != nil {
		a.badRequest(w, fmt.Errorf("field \"name\": %v", err))
		return
	}
	if err := checkPassword(body.Password); err != nil {
		a.badRequest(w, err)
		return
	}
	if err := a.users.add(*body.Name, *body.Password); err != nil {
		a.userError(w, *body.Name, err)
		return
	}
	a.log.Info("admin: user added", "user", *body.Name, "principal", principal(r))
	writeJSON(w, http.StatusCreated, userInfo{Name: *body.Name, Source: "api"})
}

func (a *Server) putUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var body passwordBody
	if err := decodeJSON(w, r, &body); err != nil {
		a.badRequest(w, err)
		return
	}
	if err := checkPassword(body.Password); err != nil {
		a.badRequest(w, err)
		return
	}
	if err := a.users.setPassword(name, *body.Password); err != nil {
		a.userError(w, name, err)
		return
	}
	a.log.Info("admin: password changed", "user", name, "principal", principal(r))
	writeJSON(w, http.StatusOK, userInfo{Name: name, Source: "api"})
}

func (a *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := a.users.remove(name); err != nil {
		a.userError(w, name, err)
		return
	}
	a.log.Info("admin: user removed", "user", name, "principal", principal(r))
	w.WriteHeader(http.StatusNoContent)
}

// ---- bans

type banDoc struct {
	Source string    `json:"source"`
	Reason string    `json:"reason"`
	Until  time.Time `json:"until"`
}

func (a *Server) getBans(w http.ResponseWriter, r *http.Request) {
	out := []banDoc{}
	if g := a.srv.Guard(); g != nil {
		for _, b := range g.Bans() {
			out = append(out, banDoc{Source: b.Source.String(), Reason: b.Reason, Until: b.Until.UTC()})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"bans": out})
}

func (a *Server) deleteBan(w http.ResponseWriter, r *http.Request) {
	s := r.PathValue("source")
	addr, err := netip.ParseAddr(s)
	if err != nil {
		a.badRequest(w, fmt.Errorf("source %q: want an IP address", s))
		return
	}
	g := a.srv.Guard()
	if g == nil || !g.Unban(addr) {
		writeError(w, http.StatusNotFound, "%s is not banned", addr)
		return
	}
	a.log.Info("admin: unbanned", "source", addr.String(), "principal", principal(r))
	w.WriteHeader(http.StatusNoContent)
}

// ---- calls

type callDoc struct {
	CallID   string    `json:"call_id"`
	Method   string    `json:"method"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Status   int       `json:"status"` // the final status of the first request's transaction, 0 while none
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Messages int       `json:"messages"`
}

// summarize reads what the list shows from a captured call's first message
// (parsed here, at query time, not on the SIP path).
func summarize(c CallSummary) callDoc {
	d := callDoc{CallID: c.CallID, First: c.First.UTC(), Last: c.Last.UTC(), Messages: c.Messages}
	var p sip.Parser
	if m, err := p.Parse(c.FirstMsg); err == nil {
		if req, ok := m.(*sip.Request); ok {
			d.Method = req.Method
			d.From = uriOf(first(req.Headers.Get("From")))
			d.To = uriOf(first(req.Headers.Get("To")))
		} else if resp, ok := m.(*sip.Response); ok {
			d.From = uriOf(first(resp.Headers.Get("From")))
			d.To = uriOf(first(resp.Headers.Get("To")))
		}
	}
	for _, s := range c.Statuses {
		if s >= 200 {
			d.Status = s
			break
		}
	}
	return d
}

func first(v string, _ bool) string { return v }

// uriOf returns the URI of a From/To value without display name and tags.
func uriOf(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return v[i+1 : i+j]
		}
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

func (a *Server) noCapture(w http.ResponseWriter) bool {
	if a.capture == nil {
		writeError(w, http.StatusNotFound, "capture is off (capture.off)")
		return true
	}
	return false
}

// getRecentCalls lists captured calls, newest first; q filters by a
// substring of Call-ID, From or To (a number, a user) or by final status.
func (a *Server) getRecentCalls(w http.ResponseWriter, r *http.Request) {
	if a.noCapture(w) {
		return
	}
	limit, err := pageLimit(r)
	if err != nil {
		a.badRequest(w, err)
		return
	}
	q := strings.ToLower(r.URL.Query().Get("q"))
	method := r.URL.Query().Get("method")
	out := []callDoc{}
	for _, c := range a.capture.Calls(0) {
		d := summarize(c)
		if method != "" && d.Method != method {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(d.CallID), q) && !strings.Contains(strings.ToLower(d.From), q) &&
			!strings.Contains(strings.ToLower(d.To), q) && strconv.Itoa(d.Status) != q {
			continue
		}
		out = append(out, d)
		if len(out) == limit {
			break
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"calls": out})
}

type messageDoc struct {
	Index          int       `json:"index"`
	At             time.Time `json:"at"`
	OffsetMS       float64   `json:"offset_ms"`
	Direction      string    `json:"direction"` // received or sent, seen from Parley
	Transport      string    `json:"transport"`
	Src            string    `json:"src"`
	Dst            string    `json:"dst"`
	From           int       `json:"from"` // column of the ladder (index into parties)
	To             int       `json:"to"`
	Label          string    `json:"label"` // "INVITE", "180 Ringing"
	Method         string    `json:"method,omitempty"`
	Status         int       `json:"status,omitempty"`
	CSeq           string    `json:"cseq"`
	Retransmission bool      `json:"retransmission"`
	Raw            string    `json:"raw"` // the whole message, credentials redacted
}

type ladderDoc struct {
	CallID   string       `json:"call_id"`
	Parties  []string     `json:"parties"` // "parley" and the peers' transport:address
	Messages []messageDoc `json:"messages"`
}

func (a *Server) callMessages(w http.ResponseWriter, r *http.Request) ([]Message, bool) {
	if a.noCapture(w) {
		return nil, false
	}
	id := r.PathValue("callid")
	msgs, ok := a.capture.Messages(id)
	if !ok {
		writeError(w, http.StatusNotFound, "no captured call with Call-ID %q (it may have been dropped from the ring)", id)
		return nil, false
	}
	return msgs, true
}

// getCallMessages returns one call as a ladder: a column per party (the
// peers in order of appearance, Parley second after the first peer), each
// message with its columns, time offset and whether it repeats an earlier
// one byte for byte (a retransmission).
func (a *Server) getCallMessages(w http.ResponseWriter, r *http.Request) {
	msgs, ok := a.callMessages(w, r)
	if !ok {
		return
	}
	doc := ladderDoc{CallID: r.PathValue("callid"), Messages: []messageDoc{}}
	col := map[string]int{}
	add := func(name string) int {
		col[name] = len(doc.Parties)
		doc.Parties = append(doc.Parties, name)
		return col[name]
	}
	party := func(name string) int {
		if i, ok := col[name]; ok {
			return i
		}
		if len(doc.Parties) == 1 && name != "parley" {
			add("parley")
		}
		return add(name)
	}
	seen := map[string]bool{}
	t0 := msgs[0].At
	for i, m := range msgs {
		peer := strings.ToLower(m.Transport) + ":" + m.Remote.String()
		md := messageDoc{Index: i, At: m.At.UTC(), OffsetMS: float64(m.At.Sub(t0).Microseconds()) / 1000, Direction: m.Dir.String(), Transport: m.Transport}
		if m.Dir == transport.Received {
			md.Src, md.Dst = m.Remote.String(), m.Local.String()
			md.From, md.To = party(peer), party("parley")
		} else {
			md.Src, md.Dst = m.Local.String(), m.Remote.String()
			md.From, md.To = party("parley"), party(peer)
		}
		line, _, _ := bytes.Cut(m.Raw, []byte("\n"))
		line = bytes.TrimRight(line, "\r")
		if code := statusCode(m.Raw); code > 0 {
			md.Status = code
			md.Label = string(bytes.TrimPrefix(line, []byte("SIP/2.0 ")))
		} else if sp := bytes.IndexByte(line, ' '); sp > 0 {
			md.Method = string(line[:sp])
			md.Label = md.Method
		}
		md.CSeq = headerValue(m.Raw, "cseq")
		key := md.Direction + "\x00" + peer + "\x00" + string(m.Raw)
		md.Retransmission = seen[key]
		seen[key] = true
		md.Raw = string(RedactCredentials(m.Raw))
		doc.Messages = append(doc.Messages, md)
	}
	writeJSON(w, http.StatusOK, doc)
}

func (a *Server) getCallPcap(w http.ResponseWriter, r *http.Request) {
	msgs, ok := a.callMessages(w, r)
	if !ok {
		return
	}
	for i := range msgs {
		msgs[i].Raw = RedactCredentials(msgs[i].Raw)
	}
	var buf bytes.Buffer
	if err := WritePcap(&buf, msgs); err != nil {
		writeError(w, http.StatusInternalServerError, "pcap: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Content-Disposition", `attachment; filename="call.pcap"`)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}

// headerValue returns the first value of a header (lower-case long name)
// in raw, or "".
func headerValue(raw []byte, name string) string {
	for line := range bytes.Lines(raw) {
		l := bytes.TrimRight(line, "\r\n")
		if len(l) == 0 {
			break
		}
		if equalFoldPrefix(l, name) {
			rest := bytes.TrimLeft(l[len(name):], " \t")
			if len(rest) > 0 && rest[0] == ':' {
				return string(bytes.TrimSpace(rest[1:]))
			}
		}
	}
	return ""
}

// RedactCredentials returns raw with the response, cnonce and nonce-count
// values of Authorization and Proxy-Authorization headers replaced by
// "redacted", so that a shown or exported message cannot feed an offline
// guess of the password. The body is untouched; raw is not modified.
func RedactCredentials(raw []byte) []byte {
	var out []byte
	rest := raw
	for len(rest) > 0 {
		end := bytes.IndexByte(rest, '\n')
		var line []byte
		if end < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:end+1], rest[end+1:]
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			out = append(out, line...)
			out = append(out, rest...)
			return out
		}
		if equalFoldPrefix(trimmed, "authorization") || equalFoldPrefix(trimmed, "proxy-authorization") {
			line = redactParam(line, "response")
		}
		out = append(out, line...)
	}
	return out
}

// redactParam replaces the value of name=... (quoted or not) in line.
func redactParam(line []byte, name string) []byte {
	low := make([]byte, len(line)) // ASCII only: bytes.ToLower may change the length of invalid UTF-8
	for k, ch := range line {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		low[k] = ch
	}
	i := bytes.Index(low, []byte(name+"="))
	for i > 0 && (low[i-1] != ' ' && low[i-1] != ',' && low[i-1] != '\t') {
		j := bytes.Index(low[i+1:], []byte(name+"="))
		if j < 0 {
			return line
		}
		i += 1 + j
	}
	if i < 0 {
		return line
	}
	v := i + len(name) + 1
	end := v
	if end < len(line) && line[end] == '"' {
		if q := bytes.IndexByte(line[end+1:], '"'); q >= 0 {
			end += q + 2
		} else {
			end = len(line)
		}
	} else {
		for end < len(line) && line[end] != ',' && line[end] != '\r' && line[end] != '\n' && line[end] != ' ' {
			end++
		}
	}
	out := append([]byte{}, line[:v]...)
	out = append(out, `"redacted"`...)
	return append(out, line[end:]...)
}
