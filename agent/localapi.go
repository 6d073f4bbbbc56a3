package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/tally-licensing/tally/agent/api"
	"github.com/tally-licensing/tally/protocol"
)

const maxBody = 64 << 10

// serve starts the local API on ln. The returned function stops it: it
// cancels in-flight requests (a checkout waiting for a seat) and waits for
// the handlers to return.
func (a *agent) serve(ln net.Listener) (stop func()) {
	base, cancel := context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathCheckout, a.handleCheckout)
	mux.HandleFunc("POST "+api.PathRelease, a.handleRelease)
	mux.HandleFunc("GET "+api.PathStatus, a.handleStatus)
	mux.HandleFunc("POST "+api.PathActivity, a.handleActivity)
	mux.HandleFunc("GET "+api.PathJWKS, a.handleJWKS)
	mux.HandleFunc("POST "+api.PathActivate, a.handleActivate)
	mux.HandleFunc("POST "+api.PathLogin, a.handleLogin)
	mux.HandleFunc("POST "+api.PathLogout, a.handleLogout)
	mux.HandleFunc("GET "+api.PathWhoAmI, a.handleWhoAmI)
	mux.HandleFunc("POST "+api.PathLoginStart, a.handleLoginStart)
	mux.HandleFunc("POST "+api.PathLoginWait, a.handleLoginWait)
	mux.HandleFunc("GET "+api.PathEntitlements, a.handleEntitlements)
	mux.HandleFunc("POST "+api.PathOfflineEnrollRequest, a.handleOfflineEnrollRequest)
	mux.HandleFunc("POST "+api.PathOfflineEnrollInstall, a.handleOfflineEnrollInstall)
	mux.HandleFunc("POST "+api.PathOfflineRequest, a.handleOfflineRequest)
	mux.HandleFunc("POST "+api.PathOfflineInstall, a.handleOfflineInstall)
	mux.HandleFunc("POST "+api.PathOfflineReturn, a.handleOfflineReturn)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case api.PathCheckout, api.PathRelease, api.PathStatus, api.PathActivity, api.PathJWKS:
			writeJSON(w, http.StatusMethodNotAllowed, api.ErrorResponse{Error: protocol.Errorf(protocol.CodeBadRequest,
				"%s does not accept %s", r.URL.Path, r.Method)})
		default:
			writeError(w, protocol.Errorf(protocol.CodeUnknownRequest, "no such endpoint: %s %s", r.Method, r.URL.Path))
		}
	})
	srv := &http.Server{
		Handler:           mux,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext:       withConn,
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("local API stopped", "err", err)
		}
	}()
	return func() {
		cancel()
		ctx, cancelShutdown := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancelShutdown()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		<-done
	}
}

func (a *agent) handleCheckout(w http.ResponseWriter, r *http.Request) {
	var req api.CheckoutRequest
	if !decode(w, r, &req) {
		return
	}
	if req.User != "" {
		writeError(w, protocol.Errorf(protocol.CodeInvalidArgument, "a checkout no longer names its user: sign the member in on this device (tally-agent login) and the seat is theirs"))
		return
	}
	l, err := a.checkout(r.Context(), callerOf(r), req.Feature, req.Wait.D(), func(c *protocol.CheckoutRequest) {
		c.Team, c.Borrow, c.Priority = req.Team, req.Borrow, req.Priority
	})
	if err == nil && req.ReleaseOnExit {
		a.tieToCaller(r, l)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.LeaseResponse{Lease: l})
}

func (a *agent) handleRelease(w http.ResponseWriter, r *http.Request) {
	var req api.ReleaseRequest
	if !decode(w, r, &req) {
		return
	}
	l, err := a.release(r.Context(), callerOf(r), req.Feature)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.LeaseResponse{Lease: l})
}

func (a *agent) handleActivate(w http.ResponseWriter, r *http.Request) {
	var req api.ActivateRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Email == "" {
		writeError(w, protocol.Errorf(protocol.CodeInvalidArgument, "activation needs an email"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	var resp protocol.ActivateResponse
	if err := a.call(ctx, protocol.TypeActivate, newRequestID(), protocol.ActivateRequest{Email: req.Email, Password: req.Password}, &resp); err != nil {
		writeError(w, err)
		return
	}
	if req.Password != "" {
		// The member's license is assigned the first time they log in:
		// sign them in for the calling OS user now.
		if _, err := a.login(ctx, callerOf(r), req.Email, req.Password); err != nil {
			a.log.Warn("activated, but could not sign the member in", "email", req.Email, "err", err)
		} else {
			resp.SignedIn = true
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *agent) handleActivity(w http.ResponseWriter, r *http.Request) {
	var req api.ActivityRequest
	if !decode(w, r, &req) {
		return
	}
	at, err := a.recordActivity(callerOf(r), req.Feature)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ActivityResponse{Feature: req.Feature, At: at})
}

func (a *agent) handleJWKS(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	doc := a.jwks
	a.mu.Unlock()
	if len(doc) == 0 {
		writeError(w, protocol.Errorf(protocol.CodeUnavailable, "the agent has not received the cluster's JWKS yet (it has not reached a server since it was installed)"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
}

func (a *agent) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.status(callerOf(r)))
}

// status describes the agent as osUser may see it: their own leases and
// sign-in only, unless they are root or the agent's own user.
func (a *agent) status(osUser string) api.Status {
	all := privilegedUser(osUser)
	a.mu.Lock()
	st := api.Status{
		DeviceCode: a.device.DeviceCode,
		Account:    a.device.Account,
		Leases:     make([]protocol.Lease, 0, len(a.leases)),
		OSUser:     osUser,
	}
	if si, ok := a.signins[osUser]; ok {
		st.SignedIn = si.Email
	}
	for k, l := range a.leases {
		if !all && l.OSUser != osUser && l.OSUser != "" {
			continue
		}
		st.Leases = append(st.Leases, l)
		if t, ok := a.activity[k]; ok {
			if st.Activity == nil {
				st.Activity = map[string]time.Time{}
			}
			if t.After(st.Activity[l.Feature]) {
				st.Activity[l.Feature] = t
			}
		}
	}
	if !a.lastHeartbeat.IsZero() {
		t := a.lastHeartbeat
		st.LastHeartbeat = &t
	}
	if !a.serverTime.IsZero() {
		t := a.serverTime
		st.ServerTime = &t
	}
	st.HeartbeatInterval = protocol.Duration(a.interval)
	st.Problem = a.problem
	if p := a.policy; p.LeaseTTL != 0 || p.IdleTimeout != 0 || p.MaxCheckout != 0 || p.Linger != 0 || len(p.Features) > 0 {
		st.Policy = &p
	}
	a.mu.Unlock()
	sortLeases(st.Leases)
	if c := a.client.Load(); c != nil {
		st.Enrolled = true
		st.Servers = c.Servers()
		st.Server, st.Connected = c.Connected()
		if from, at := c.LastAnswer(); !at.IsZero() {
			st.LastAnswer, st.LastAnswerFrom = &at, from
		}
	} else {
		st.Servers = a.servers()
	}
	return st
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeError(w, protocol.Errorf(protocol.CodeBadRequest, "malformed request body: %v", err))
		return false
	}
	return true
}

func writeError(w http.ResponseWriter, err error) {
	pe := api.AsError(err)
	writeJSON(w, api.HTTPStatus(pe.Code), api.ErrorResponse{Error: pe})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (a *agent) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req api.LoginRequest
	if !decode(w, r, &req) {
		return
	}
	resp, err := a.login(r.Context(), callerOf(r), req.Email, req.Password)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp.Member)
}

func (a *agent) handleLogout(w http.ResponseWriter, r *http.Request) {
	si, err := a.logout(r.Context(), callerOf(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, protocol.Member{SignInID: si.SignInID, Account: si.Account, Email: si.Email, Role: si.Role})
}

func (a *agent) handleWhoAmI(w http.ResponseWriter, r *http.Request) {
	m, err := a.whoami(r.Context(), callerOf(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (a *agent) handleLoginStart(w http.ResponseWriter, r *http.Request) {
	resp, err := a.loginStart(r.Context(), callerOf(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *agent) handleLoginWait(w http.ResponseWriter, r *http.Request) {
	resp, err := a.loginWait(r.Context(), callerOf(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp.Member)
}
