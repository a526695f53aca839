package sandbox

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// adminHandler serves the admin endpoint: plain HTTP on loopback, for the
// demo, edge-sandbox's users and tests in other processes.
//
//	GET    /faults  the current faults as JSON
//	PUT    /faults  set faults from form fields or a JSON body
//	                (mode, delay, retry_after, size, count); POST works too
//	DELETE /faults  answer normally again
//	GET    /stats   {"credential_calls":N,"by_status":{"200":N},"issued":N}
//	GET    /healthz "ok"
func (sb *Sandbox) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, sb.Faults())
	})
	mux.HandleFunc("PUT /faults", sb.adminSetFaults)
	mux.HandleFunc("POST /faults", sb.adminSetFaults)
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		_ = sb.SetFaults(Faults{})
		writeJSON(w, http.StatusOK, sb.Faults())
	})
	mux.HandleFunc("GET /stats", sb.adminStats)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

func (sb *Sandbox) adminSetFaults(w http.ResponseWriter, r *http.Request) {
	f, err := faultsFromRequest(r)
	if err == nil {
		err = sb.SetFaults(f)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, sb.Faults())
}

func faultsFromRequest(r *http.Request) (Faults, error) {
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var f Faults
		err := json.NewDecoder(r.Body).Decode(&f)
		return f, err
	}
	if err := r.ParseForm(); err != nil {
		return Faults{}, err
	}
	return ParseFaults(r.Form.Get)
}

func (sb *Sandbox) adminStats(w http.ResponseWriter, r *http.Request) {
	byStatus := map[string]int64{}
	for code, n := range sb.calls.snapshot() {
		byStatus[strconv.Itoa(code)] = n
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"credential_calls": sb.CredentialCalls(),
		"by_status":        byStatus,
		"issued":           sb.Issued.Len(),
	})
}
