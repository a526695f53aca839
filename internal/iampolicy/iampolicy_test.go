package iampolicy

import "testing"

const (
	assume = "iot:AssumeRoleWithCertificate"
	alias  = "arn:aws:iot:us-east-1:123456789012:rolealias/fleet-a"
)

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    Decision
		wantErr bool
	}{
		{"exact", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:AssumeRoleWithCertificate","Resource":"` + alias + `"}]}`, Allow, false},
		{"single statement object", `{"Statement":{"Effect":"Allow","Action":"iot:AssumeRoleWithCertificate","Resource":"` + alias + `"}}`, Allow, false},
		{"lists", `{"Statement":[{"Effect":"Allow","Action":["iot:Connect","iot:AssumeRoleWithCertificate"],"Resource":["x","` + alias + `"]}]}`, Allow, false},
		{"action star", `{"Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"` + alias + `"}]}`, Allow, false},
		{"resource star spans slash and colon", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:iot:*"}]}`, Allow, false},
		{"question mark is one character", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:iot:us-east-1:123456789012:rolealias/fleet-?"}]}`, Allow, false},
		{"question mark is not two", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:iot:us-east-1:123456789012:rolealias/fleet?"}]}`, ImplicitDeny, false},
		{"action case folds", `{"Statement":[{"Effect":"allow","Action":"IOT:assumerolewithcertificate","Resource":"` + alias + `"}]}`, Allow, false},
		{"resource case matters", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:iot:us-east-1:123456789012:rolealias/FLEET-A"}]}`, ImplicitDeny, false},
		{"regexp characters are literal", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn.aws.iot.*"}]}`, ImplicitDeny, false},
		{"brackets are literal", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:iot:us-east-1:123456789012:rolealias/fleet-[a]"}]}`, ImplicitDeny, false},
		{"other action", `{"Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`, ImplicitDeny, false},
		{"other alias", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"` + alias + `B"}]}`, ImplicitDeny, false},
		{"deny wins before", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"},{"Effect":"Allow","Action":"*","Resource":"*"}]}`, ExplicitDeny, false},
		{"deny wins after", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"iot:AssumeRoleWithCertificate","Resource":"*"}]}`, ExplicitDeny, false},
		{"deny elsewhere", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"iot:Connect","Resource":"*"}]}`, Allow, false},
		{"conditional allow does not grant", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"x":"true"}}}]}`, ImplicitDeny, false},
		{"conditional deny does not deny", `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"x":"true"}}}]}`, Allow, false},
		{"unknown effect", `{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}`, ImplicitDeny, false},
		{"empty statement list", `{"Statement":[]}`, ImplicitDeny, false},
		{"no statement", `{"Version":"2012-10-17"}`, ImplicitDeny, true},
		{"not json", `Allow everything`, ImplicitDeny, true},
		{"bad action type", `{"Statement":{"Effect":"Allow","Action":5,"Resource":"*"}}`, ImplicitDeny, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Evaluate(tt.doc, assume, alias)

			if (err != nil) != tt.wantErr {
				t.Fatalf("Evaluate() error = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Evaluate() = %v, want %v", got, tt.want)
			}
			if got, want := Allows(tt.doc, assume, alias), tt.want == Allow; got != want {
				t.Errorf("Allows() = %v, want %v", got, want)
			}
		})
	}
}

func TestDecisionString(t *testing.T) {
	tests := []struct {
		d    Decision
		want string
	}{
		{ImplicitDeny, "implicit deny"},
		{Allow, "allow"},
		{ExplicitDeny, "explicit deny"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("%d.String() = %q, want %q", tt.d, got, tt.want)
		}
	}
}
