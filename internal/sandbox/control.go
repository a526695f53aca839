package sandbox

import (
	"net/http"
	"sync"
)

// startHook is run by [Start] with the sandbox whose credentials provider
// and S3 are already listening (their addresses are set) and whose control
// listener is not yet serving. See registerStartHook.
type startHook func(sb *Sandbox) error

var (
	startHooksMu sync.Mutex
	startHooks   []startHook
)

// registerStartHook makes every [Start] run hook, in registration order.
// Files of this package call it from init to mount a control-plane service
// on [Sandbox.Control] (for example ControlPlane.Register(sb.Control)).
func registerStartHook(hook startHook) {
	startHooksMu.Lock()
	defer startHooksMu.Unlock()
	startHooks = append(startHooks, hook)
}

func (sb *Sandbox) runStartHooks() error {
	startHooksMu.Lock()
	hooks := append([]startHook(nil), startHooks...)
	startHooksMu.Unlock()

	for _, h := range hooks {
		if err := h(sb); err != nil {
			return err
		}
	}
	return nil
}

// newControlMux returns the control listener's mux. Until a service is
// mounted, it answers every request 404 with a JSON message, as AWS's
// front ends answer an unknown path.
func newControlMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sandbox/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}
