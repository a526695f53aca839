package credserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// Error codes of the local API (CONTRACT.md).
const (
	CodeUnauthorized           = "Unauthorized"
	CodeForbidden              = "Forbidden"
	CodeNotFound               = "NotFound"
	CodeMethodNotAllowed       = "MethodNotAllowed"
	CodeRequestTooLarge        = "RequestTooLarge"
	CodeCredentialsUnavailable = "CredentialsUnavailable"
	CodeBadRequest             = "BadRequest"    // IMDS door only
	CodeInternal               = "InternalError" // a status that cannot be marshalled
)

// apiError is the JSON body of every error response.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// api returns the router shared by the unix and TCP listeners. Callers wrap
// it with their authentication check.
func (s *Server) api(log *zap.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.checkSize(log, w, r) {
			return
		}

		var h func(*zap.Logger, http.ResponseWriter, *http.Request)
		switch r.URL.Path {
		case "/v1/credentials":
			h = s.serveCredentials
		case "/v1/status":
			h = s.serveStatus
		case "/healthz":
			h = s.serveHealth
		default:
			s.refuse(log, w, r, http.StatusNotFound, CodeNotFound,
				"no such path; use /v1/credentials, /v1/status or /healthz")
			return
		}

		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			s.refuse(log, w, r, http.StatusMethodNotAllowed, CodeMethodNotAllowed,
				"method "+r.Method+" is not allowed; use GET")
			return
		}
		h(log, w, r)
	})
}

// checkSize answers 413 and reports false when r has a body or headers over
// the limit.
func (s *Server) checkSize(log *zap.Logger, w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength != 0 {
		s.refuse(log, w, r, http.StatusRequestEntityTooLarge, CodeRequestTooLarge,
			"requests to the local api carry no body")
		return false
	}
	if headerSize(r) > maxHeaderBytes {
		s.refuse(log, w, r, http.StatusRequestEntityTooLarge, CodeRequestTooLarge,
			"request headers exceed 8 KiB")
		return false
	}
	return true
}

// headerSize approximates the bytes of r's request line and headers.
func headerSize(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	n += len("Host: ") + len(r.Host) + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// validCredentials gets credentials from the source and answers 503 unless
// they are valid now.
func (s *Server) validCredentials(log *zap.Logger, w http.ResponseWriter, r *http.Request) (Credentials, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), getTimeout)
	defer cancel()

	c, err := s.src.Get(ctx)
	if err != nil {
		log.Debug("credentials unavailable", zap.String("path", r.URL.Path), zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, CodeCredentialsUnavailable, unavailableReason(err))
		return Credentials{}, false
	}

	if !c.Valid(s.now(), 0) {
		log.Warn("source returned expired or incomplete credentials; refusing to serve them",
			zap.String("access_key_id", c.AccessKeyID), zap.Time("expiration", c.Expiration))
		writeError(w, http.StatusServiceUnavailable, CodeCredentialsUnavailable,
			"the credentials held have expired or are incomplete; the agent is retrying, see edge-agent status")
		return Credentials{}, false
	}
	return c, true
}

func (s *Server) serveCredentials(log *zap.Logger, w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format != "" && format != "container" && format != "process" {
		s.refuse(log, w, r, http.StatusNotFound, CodeNotFound,
			"unknown format "+quote(format)+"; use format=process or leave it out")
		return
	}

	c, ok := s.validCredentials(log, w, r)
	if !ok {
		return
	}

	log.Debug("served credentials", zap.String("access_key_id", c.AccessKeyID),
		zap.Time("expiration", c.Expiration), zap.String("format", format))
	encode := c.ContainerJSON
	if format == "process" {
		encode = c.ProcessJSON
	}
	body, err := encode()
	if err != nil {
		log.Error("encode credentials", zap.Error(err))
		writeError(w, http.StatusInternalServerError, CodeInternal, "the credentials cannot be encoded; see the agent's log")
		return
	}
	writeBody(w, http.StatusOK, "application/json", body)
}

func (s *Server) serveStatus(log *zap.Logger, w http.ResponseWriter, r *http.Request) {
	body, err := json.Marshal(s.src.Status())
	if err != nil {
		log.Error("marshal status", zap.Error(err))
		writeError(w, http.StatusInternalServerError, CodeInternal, "the status cannot be encoded; see the agent's log")
		return
	}
	writeBody(w, http.StatusOK, "application/json", body)
}

func (s *Server) serveHealth(log *zap.Logger, w http.ResponseWriter, r *http.Request) {
	if _, ok := s.validCredentials(log, w, r); !ok {
		return
	}
	writeBody(w, http.StatusOK, "text/plain; charset=utf-8", []byte("ok"))
}

// refuse logs a refused request at warn and answers with an error body.
func (s *Server) refuse(log *zap.Logger, w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	fields := append(requestFields(r), zap.Int("status", status), zap.String("code", code))
	log.Warn("refused request", fields...)
	writeError(w, status, code, msg)
}

// requestFields describes who sent r, without any header value.
func requestFields(r *http.Request) []zap.Field {
	fields := []zap.Field{zap.String("method", r.Method), zap.String("path", r.URL.Path)}
	if p, ok := r.Context().Value(peerKey{}).(peer); ok && p.err == nil {
		return append(fields, zap.Int("uid", p.uid), zap.Int("gid", p.gid), zap.Int("pid", p.pid))
	}
	fields = append(fields, zap.String("remote_addr", r.RemoteAddr))
	if tp, ok := r.Context().Value(tcpPeerKey{}).(*tcpPeer); ok && tp.resolved() {
		fields = append(fields, zap.Int("uid", tp.p.uid))
	}
	return fields
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Code: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v) // only our own plain structs
	writeBody(w, status, "application/json", body)
}

func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(body)
}

// rfc3339 formats t in UTC with a Z and whole seconds, as the SDKs expect.
func rfc3339(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// quote shortens and quotes a client-supplied value for a message.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}
