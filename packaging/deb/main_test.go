package main

import "testing"

func TestDebianVersion(t *testing.T) {
	tests := []struct {
		in, wantVersion, wantPre string
	}{
		{"v1.2.3", "1.2.3", ""},
		{"1.2.3", "1.2.3", ""},
		{"v1.2.3-rc.1", "1.2.3", "rc.1"},
		{"v1.2.3-4-gabcdef0", "1.2.3", "4.gabcdef0"},
		{"v1.2.3-4-gabcdef0-dirty", "1.2.3", "4.gabcdef0.dirty"},
		{"8715ff6", "0.0.0", "git8715ff6"},
		{"8715ff6-dirty", "0.0.0", "git8715ff6.dirty"},
		{"dev", "0.0.0", "gitdev"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			gotVersion, gotPre := debianVersion(tt.in)
			if gotVersion != tt.wantVersion || gotPre != tt.wantPre {
				t.Errorf("got %q ~ %q, want %q ~ %q", gotVersion, gotPre, tt.wantVersion, tt.wantPre)
			}
		})
	}
}
