package credprovider

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestStatusJSON(t *testing.T) {
	at := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		st   any
		want string
	}{
		{"nothing known: last_error is null, unknown times are left out", Status{State: StateStarting},
			`{"state":"starting","thing_name":"","role_alias":"","last_error":null,"clock_skew_seconds":0}`},
		{"everything known", Status{State: StateDegraded, ThingName: "t", RoleAlias: "r", Expiration: at, LastRefresh: at, NextRefresh: at,
			LastError: &LastError{Class: ClassTransient, Message: "timeout"}, ClockSkewSeconds: -3, CertificateNotAfter: at},
			`{"state":"degraded","thing_name":"t","role_alias":"r","expiration":"2026-08-01T12:00:00Z","last_refresh":"2026-08-01T12:00:00Z","next_refresh":"2026-08-01T12:00:00Z","last_error":{"class":"transient","message":"timeout"},"clock_skew_seconds":-3,"certificate_not_after":"2026-08-01T12:00:00Z"}`},
		{"embedded, as the agent does, keeps the outer fields", struct {
			Status
			Extra string `json:"extra"`
		}{Status{State: StateServing}, "kept"},
			`{"state":"serving","thing_name":"","role_alias":"","last_error":null,"clock_skew_seconds":0,"extra":"kept"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.st)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestStatusJSONRoundTrip(t *testing.T) {
	st := Status{State: StateUnavailable, ThingName: "t", NextRefresh: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}

	var got Status
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}

	if !reflect.DeepEqual(got, st) {
		t.Errorf("got %+v, want %+v", got, st)
	}
}
