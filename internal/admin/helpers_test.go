package admin

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edge-agent/edge-agent/internal/sandbox"
	"github.com/edge-agent/edge-agent/internal/testenv"
)

const (
	testBucket = "edge-fleet-files"
	testFleet  = "fleet-a"
)

// env is a sandbox and an Admin pointed at it through the SDK's standard
// chain: static keys, region and per-service endpoints from the
// environment, as an operator would set them.
type env struct {
	sb    *sandbox.Sandbox
	cp    *sandbox.ControlPlane
	admin *Admin
	dir   string
}

func newEnv(t *testing.T, limits Limits) *env {
	t.Helper()
	testenv.ClearAWS(t)
	sb, err := sandbox.Start(context.Background(), sandbox.Options{})
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() { sb.Close() })

	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": sandbox.AdminAccessKeyID, "AWS_SECRET_ACCESS_KEY": sandbox.AdminSecretAccessKey,
		"AWS_REGION": sb.Region, "AWS_ENDPOINT_URL_IOT": sb.ControlURL,
		"AWS_ENDPOINT_URL_SAGEMAKER": sb.ControlURL, "AWS_ENDPOINT_URL_IAM": sb.ControlURL,
		"AWS_ENDPOINT_URL_S3": sb.S3URL,
	} {
		t.Setenv(k, v)
	}
	if err := sb.CreateBucket(context.Background(), testBucket); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return &env{sb: sb, cp: sb.ControlPlane(), admin: newAdmin(t, filepath.Join(dir, "state"), limits), dir: dir}
}

func newAdmin(t *testing.T, stateDir string, limits Limits) *Admin {
	t.Helper()
	if limits == (Limits{}) {
		limits = Limits{IoT: 1000, SageMaker: 1000, S3: 1000, IAM: 1000}
	}
	a, err := New(context.Background(), Options{StateDir: stateDir, Limits: limits})
	if err != nil {
		t.Fatalf("admin.New: %v", err)
	}
	return a
}

func (e *env) createFleet(t *testing.T, o FleetCreateOptions) FleetResult {
	t.Helper()
	if o.Fleet == "" {
		o.Fleet = testFleet
	}
	if o.Output == "" {
		o.Output = "s3://" + testBucket + "/output"
	}
	if o.RoleARN == "" && !o.CreateRole {
		o.CreateRole = true
	}
	res, err := e.admin.CreateFleet(context.Background(), o)
	if err != nil {
		t.Fatalf("CreateFleet: %v", err)
	}
	return res
}

func (e *env) deviceOptions(device string) DeviceOptions {
	return DeviceOptions{Fleet: testFleet, Device: device, RootCA: e.sb.CA}
}

// dump is a normalized listing of the whole account (State and S3), equal
// for two runs that end in the same state: certificate IDs and key bytes
// are replaced by what they are attached to.
func (e *env) dump(t *testing.T) string {
	t.Helper()
	var lines []string
	certNames := map[string]string{}
	e.sb.State.Do(func(s *sandbox.State) {
		for _, c := range s.Certificates {
			things := append([]string(nil), c.Things...)
			pols := append([]string(nil), c.Policies...)
			sort.Strings(things)
			sort.Strings(pols)
			name := "cert(" + strings.Join(things, ",") + ")"
			certNames[c.ID] = name
			lines = append(lines, fmt.Sprintf("%s status=%s policies=%v", name, c.Status, pols))
		}
		for _, th := range s.Things {
			lines = append(lines, fmt.Sprintf("thing %s type=%s", th.Name, th.ThingType))
		}
		for _, p := range s.Policies {
			lines = append(lines, fmt.Sprintf("policy %s %s", p.Name, p.Document))
		}
		for _, r := range s.RoleAliases {
			lines = append(lines, fmt.Sprintf("rolealias %s %s %d", r.Name, r.RoleARN, r.DurationSeconds))
		}
		for kind, m := range s.Extra {
			for name, v := range m {
				lines = append(lines, fmt.Sprintf("%s %s %s", kind, name, extraString(v)))
			}
		}
	})
	lines = append(lines, e.dumpS3(t, certNames)...)
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func extraString(v any) string {
	switch x := v.(type) {
	case *sandbox.ThingType:
		return x.Description
	case *sandbox.DeviceFleet:
		return fmt.Sprintf("role=%s output=%s alias=%s", x.RoleARN, x.OutputS3, x.IotRoleAlias)
	case *sandbox.Device:
		return fmt.Sprintf("fleet=%s thing=%s", x.Fleet, x.IotThingName)
	case *sandbox.IAMRole:
		return fmt.Sprintf("inline=%d attached=%v", len(x.Inline), x.Attached)
	case map[string]string:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k+"="+x[k])
		}
		sort.Strings(keys)
		return strings.Join(keys, ",")
	}
	return fmt.Sprintf("%T", v)
}

func (e *env) dumpS3(t *testing.T, certNames map[string]string) []string {
	t.Helper()
	ctx := context.Background()
	c := e.sb.S3Client()
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket)})
	if err != nil {
		t.Fatalf("list objects: %v", err)
	}
	var lines []string
	for _, o := range out.Contents {
		key := aws.ToString(o.Key)
		body := e.object(t, key)
		switch {
		case strings.HasSuffix(key, "device.pem.crt"):
			body = []byte(certNames[certificateID(body)])
		case strings.HasSuffix(key, "private.pem.key"):
			body = []byte(fmt.Sprintf("key(%d bytes)", len(body)/10))
		}
		text := strings.ReplaceAll(string(body), string(e.sb.CA), "<sandbox CA>")
		text = strings.ReplaceAll(text, e.sb.CredentialsEndpoint, "<credentials endpoint>")
		lines = append(lines, fmt.Sprintf("s3 %s %s", key, text))
	}
	return lines
}

func (e *env) object(t *testing.T, key string) []byte {
	t.Helper()
	out, err := e.sb.S3Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}
