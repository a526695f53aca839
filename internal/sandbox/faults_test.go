package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// deviceClient starts a sandbox with one device allowed on testAlias.
func deviceClient(t *testing.T) (*Sandbox, *http.Client) {
	t.Helper()
	sb, _ := startSandbox(t, Options{})
	sb.AddRoleAlias(testAlias, testRole, 0)
	files, err := sb.NewDevice(context.Background(), "sensor-1", testAlias)
	if err != nil {
		t.Fatal(err)
	}
	return sb, mtlsClient(t, files)
}

func TestFaults(t *testing.T) {
	sb, client := deviceClient(t)

	tests := []struct {
		name        string
		faults      Faults
		wantStatus  int
		wantType    string
		wantBody    string // substring
		wantHeader  [2]string
		wantMinSize int
	}{
		{"403", Faults{Mode: FaultForbidden}, 403, "application/json", `{"message":"Access Denied"}`, [2]string{}, 0},
		{"404", Faults{Mode: FaultNotFound}, 404, "application/json", `{"message":"Role alias does not exist"}`, [2]string{}, 0},
		{"429 default Retry-After", Faults{Mode: FaultThrottled}, 429, "application/json", `"message"`, [2]string{"Retry-After", "1"}, 0},
		{"429 Retry-After rounded up", Faults{Mode: FaultThrottled, RetryAfter: 2500 * time.Millisecond}, 429, "application/json", `"message"`, [2]string{"Retry-After", "3"}, 0},
		{"500", Faults{Mode: FaultServerError}, 500, "application/json", `"message"`, [2]string{}, 0},
		{"garbage", Faults{Mode: FaultGarbage}, 200, "text/plain", "not JSON", [2]string{}, 0},
		{"html", Faults{Mode: FaultHTML}, 200, "text/html; charset=utf-8", "<html>", [2]string{}, 0},
		{"huge default", Faults{Mode: FaultHuge}, 200, "application/json", `{"padding":"xxx`, [2]string{}, DefaultHugeSize},
		{"huge 100 KiB", Faults{Mode: FaultHuge, HugeSize: 100 << 10}, 200, "application/json", `xxx"}`, [2]string{}, 100 << 10},
		{"slow then normal", Faults{Mode: FaultSlow, Delay: time.Millisecond}, 200, "application/json", `"credentials"`, [2]string{}, 0},
		{"none", Faults{}, 200, "application/json", `"credentials"`, [2]string{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := sb.SetFaults(tt.faults); err != nil {
				t.Fatal(err)
			}
			before := sb.CredentialCallsByStatus(tt.wantStatus)
			r := mustGet(t, client, sb.CredentialsEndpoint, testAlias, "sensor-1")
			if r.status != tt.wantStatus {
				t.Errorf("status = %d, want %d", r.status, tt.wantStatus)
			}
			if got := r.header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if !strings.Contains(string(r.body), tt.wantBody) {
				t.Errorf("body = %.100q, want it to contain %q", r.body, tt.wantBody)
			}
			if h := tt.wantHeader; h[0] != "" && r.header.Get(h[0]) != h[1] {
				t.Errorf("%s = %q, want %q", h[0], r.header.Get(h[0]), h[1])
			}
			if tt.wantMinSize > 0 && (len(r.body) < tt.wantMinSize || len(r.body) > tt.wantMinSize+4096) {
				t.Errorf("body is %d bytes, want about %d", len(r.body), tt.wantMinSize)
			}
			if got := sb.CredentialCallsByStatus(tt.wantStatus) - before; got != 1 {
				t.Errorf("calls counted under %d = %d, want 1", tt.wantStatus, got)
			}
		})
	}
}

func TestFaultCount(t *testing.T) {
	sb, client := deviceClient(t)
	if err := sb.SetFaults(Faults{Mode: FaultServerError, Count: 2}); err != nil {
		t.Fatal(err)
	}

	var got []int
	for range 4 {
		got = append(got, mustGet(t, client, sb.CredentialsEndpoint, testAlias, "sensor-1").status)
	}
	if want := []int{500, 500, 200, 200}; !equalInts(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if got := sb.Faults(); got != (Faults{}) {
		t.Errorf("Faults() after the count ran out = %+v, want none", got)
	}
	if got, want := sb.CredentialCalls(), int64(4); got != want {
		t.Errorf("CredentialCalls() = %d, want %d", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFaultSlowOutlastsClient(t *testing.T) {
	sb, client := deviceClient(t)
	if err := sb.SetFaults(Faults{Mode: FaultSlow}); err != nil { // DefaultFaultDelay
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := getCredentials(ctx, client, sb.CredentialsEndpoint, testAlias, "sensor-1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the client's deadline", err)
	}
	if got := sb.Issued.Len(); got != 0 {
		t.Errorf("Issued.Len() = %d, want 0", got)
	}
	// Close (in cleanup) must not wait for the delay: the handler returns
	// when the connection goes away.
}

func TestFaultsValidate(t *testing.T) {
	tests := []struct {
		name   string
		faults Faults
		ok     bool
	}{
		{"none", Faults{}, true},
		{"every mode", Faults{Mode: FaultHuge, HugeSize: 10, Count: 1}, true},
		{"unknown mode", Faults{Mode: "418"}, false},
		{"negative delay", Faults{Mode: FaultSlow, Delay: -time.Second}, false},
		{"negative count", Faults{Mode: FaultSlow, Count: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.faults.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestParseFaults(t *testing.T) {
	tests := []struct {
		name    string
		values  url.Values
		want    Faults
		wantErr string
	}{
		{"429 with seconds", url.Values{"mode": {"429"}, "retry_after": {"7"}}, Faults{Mode: FaultThrottled, RetryAfter: 7 * time.Second}, ""},
		{"slow with duration", url.Values{"mode": {"slow"}, "delay": {"1.5s"}, "count": {"3"}}, Faults{Mode: FaultSlow, Delay: 1500 * time.Millisecond, Count: 3}, ""},
		{"none", url.Values{"mode": {"none"}}, Faults{}, ""},
		{"huge", url.Values{"mode": {"huge"}, "size": {"1000"}}, Faults{Mode: FaultHuge, HugeSize: 1000}, ""},
		{"bad mode", url.Values{"mode": {"teapot"}}, Faults{}, `fault mode "teapot"`},
		{"bad delay", url.Values{"mode": {"slow"}, "delay": {"soon"}}, Faults{}, "fault delay"},
		{"bad count", url.Values{"mode": {"500"}, "count": {"x"}}, Faults{}, "fault count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFaults(tt.values.Get)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseFaults() = %+v, %v, want %+v", got, err, tt.want)
			}
		})
	}
}

func TestFaultsJSON(t *testing.T) {
	in := Faults{Mode: FaultThrottled, Delay: 2 * time.Second, RetryAfter: 5 * time.Second, Count: 1}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"mode":"429","delay":"2s","retry_after":"5s","count":1}`; got != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
	var out Faults
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Errorf("Unmarshal = %+v, %v, want %+v", out, err, in)
	}
	if err := json.Unmarshal([]byte(`{"mode":"slow","delay":3}`), &out); err != nil || out.Delay != 3*time.Second {
		t.Errorf("Unmarshal bare seconds = %+v, %v, want delay 3s", out, err)
	}
}
