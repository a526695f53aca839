package sandbox

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func adminDo(t *testing.T, method, url, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, url, err)
	}
	return resp.StatusCode, m
}

func TestAdminFaults(t *testing.T) {
	sb, client := deviceClient(t)
	form := "application/x-www-form-urlencoded"

	tests := []struct {
		name, method, path, ctype, body string
		wantStatus                      int
		wantMode                        string
		wantCall                        int
	}{
		{"form", "PUT", "/faults", form, "mode=429&retry_after=7&count=1", 200, "429", 429},
		{"query string with POST", "POST", "/faults?mode=500", "", "", 200, "500", 500},
		{"json", "PUT", "/faults", "application/json", `{"mode":"403"}`, 200, "403", 403},
		{"delete", "DELETE", "/faults", "", "", 200, "none", 200},
		{"bad mode", "PUT", "/faults", form, "mode=teapot", 400, "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, m := adminDo(t, tt.method, sb.AdminURL+tt.path, tt.ctype, tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status = %d %v, want %d", status, m, tt.wantStatus)
			}
			if tt.wantMode != "" && m["mode"] != tt.wantMode {
				t.Errorf("mode = %v, want %s", m["mode"], tt.wantMode)
			}
			if tt.wantStatus != 200 && m["message"] == nil {
				t.Errorf("error answer %v has no message", m)
			}
			_, cur := adminDo(t, "GET", sb.AdminURL+"/faults", "", "")
			r := mustGet(t, client, sb.CredentialsEndpoint, testAlias, "sensor-1")
			if r.status != tt.wantCall {
				t.Errorf("credentials call = %d, want %d (faults %v)", r.status, tt.wantCall, cur)
			}
		})
	}
	_ = sb.SetFaults(Faults{})

	t.Run("stats", func(t *testing.T) {
		_, m := adminDo(t, "GET", sb.AdminURL+"/stats", "", "")
		if got, want := m["credential_calls"], float64(sb.CredentialCalls()); got != want {
			t.Errorf("credential_calls = %v, want %v", got, want)
		}
		byStatus, _ := m["by_status"].(map[string]any)
		if got, want := byStatus["429"], float64(1); got != want {
			t.Errorf("by_status[429] = %v, want %v", got, want)
		}
		if got, want := m["issued"], float64(sb.Issued.Len()); got != want {
			t.Errorf("issued = %v, want %v", got, want)
		}
	})
}
