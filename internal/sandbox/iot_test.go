package sandbox

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
)

func TestListCertificatesPagesByCreationDate(t *testing.T) {
	sb, clock := startSandbox(t, Options{})
	c := newCPClients(t, sb, 1)
	ctx := context.Background()

	var created []string // oldest first
	for range 5 {
		kc, err := c.iot.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{SetAsActive: true})
		if err != nil {
			t.Fatalf("CreateKeysAndCertificate: %v", err)
		}
		created = append(created, aws.ToString(kc.CertificateId))
		clock.Advance(time.Minute)
	}

	tests := []struct {
		name      string
		ascending bool
		want      []string
	}{
		{"newest first", false, []string{created[4], created[3], created[2], created[1], created[0]}},
		{"oldest first", true, created},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			var last time.Time
			pg := iot.NewListCertificatesPaginator(c.iot, &iot.ListCertificatesInput{
				PageSize: aws.Int32(2), AscendingOrder: tt.ascending})
			pages := 0
			for pg.HasMorePages() {
				page, err := pg.NextPage(ctx)
				if err != nil {
					t.Fatalf("ListCertificates: %v", err)
				}
				pages++
				for _, cert := range page.Certificates {
					got = append(got, aws.ToString(cert.CertificateId))
					if cert.CreationDate == nil || string(cert.Status) != "ACTIVE" || aws.ToString(cert.CertificateArn) == "" {
						t.Errorf("certificate %s: got %+v, want a creation date, ACTIVE and an ARN", aws.ToString(cert.CertificateId), cert)
						continue
					}
					if !last.IsZero() && cert.CreationDate.After(last) != tt.ascending {
						t.Errorf("certificate %s created %v, out of order after %v", aws.ToString(cert.CertificateId), *cert.CreationDate, last)
					}
					last = *cert.CreationDate
				}
			}
			if pages != 3 {
				t.Errorf("pages: got %d, want 3", pages)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("certificates: got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("certificate %d: got %s, want %s", i, got[i], tt.want[i])
				}
			}
		})
	}

	dc, err := c.iot.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(created[0])})
	if err != nil {
		t.Fatalf("DescribeCertificate: %v", err)
	}
	if got := dc.CertificateDescription.CreationDate; got == nil || got.Unix() != clock.Now().Add(-5*time.Minute).Unix() {
		t.Errorf("DescribeCertificate creationDate: got %v, want %v", got, clock.Now().Add(-5*time.Minute))
	}
	if _, err := c.iot.ListCertificates(ctx, &iot.ListCertificatesInput{PageSize: aws.Int32(251)}); err == nil {
		t.Errorf("ListCertificates with pageSize 251: got no error")
	}
}
