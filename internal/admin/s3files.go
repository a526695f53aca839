package admin

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gopkg.in/yaml.v3"

	"github.com/edge-agent/edge-agent/internal/certstore"
	"github.com/edge-agent/edge-agent/internal/config"
)

// ConfigFile is the name of the agent configuration uploaded beside the
// authorization files, which bootstrap installs.
const ConfigFile = "edge-agent.yaml"

// agentConfig is the part of the agent's config.yaml that admin knows.
type agentConfig struct {
	ThingName           string `yaml:"thing_name"`
	RoleAlias           string `yaml:"role_alias"`
	CredentialEndpoint  string `yaml:"credential_endpoint"`
	Region              string `yaml:"region"`
	AllowCustomEndpoint bool   `yaml:"allow_custom_endpoint,omitempty"`
}

// AgentConfig returns the device's edge-agent.yaml: thing, role alias,
// endpoint and region. An endpoint that is not an AWS credentials endpoint
// (the sandbox's) gets allow_custom_endpoint.
func AgentConfig(thing, roleAlias, endpoint, region string) []byte {
	c := agentConfig{ThingName: thing, RoleAlias: roleAlias, CredentialEndpoint: endpoint, Region: region,
		AllowCustomEndpoint: config.RegionFromEndpoint(endpoint) == ""}
	b, _ := yaml.Marshal(c)
	return append([]byte("# written by edge-agent admin device provision\n"), b...)
}

// uploadStep puts the device's files under its prefix, with server-side
// encryption, skipping those already uploaded with the same content.
func (p *provisioner) uploadStep(ctx context.Context, st *deviceState, _ []byte) (string, error) {
	files, err := p.deviceFiles(ctx, st)
	if err != nil {
		return "", err
	}
	if st.Uploaded == nil {
		st.Uploaded = map[string]string{}
	}

	var put []string
	for _, f := range files {
		sum := sha256Hex(f.data)
		same, err := p.alreadyUploaded(ctx, st, f.name, f.data, sum)
		if err != nil {
			return "", err
		}
		if same {
			continue
		}
		if err := p.a.putObject(ctx, st.Bucket, AuthorizationPrefix(st.Device)+f.name, f.data); err != nil {
			return "", err
		}
		st.Uploaded[f.name] = sum
		if err := p.a.state.saveDevice(st); err != nil {
			return "", err
		}
		put = append(put, f.name)
	}
	if len(put) == 0 {
		return "", nil
	}
	return fmt.Sprintf("uploaded %s to s3://%s/%s", strings.Join(put, ", "), st.Bucket, AuthorizationPrefix(st.Device)), nil
}

type namedFile struct {
	name string
	data []byte
}

// deviceFiles returns what a device's prefix must hold.
func (p *provisioner) deviceFiles(ctx context.Context, st *deviceState) ([]namedFile, error) {
	cert, err := p.a.state.read(st.Fleet, st.Device, certFile)
	if err != nil {
		return nil, fmt.Errorf("read local certificate of %s: %w", st.Device, err)
	}
	ep, err := p.credentialsEndpoint(ctx)
	if err != nil {
		return nil, err
	}
	files := []namedFile{{certstore.CertFile, cert}}
	if !st.CSR {
		key, err := p.a.state.read(st.Fleet, st.Device, keyFile)
		if err != nil {
			return nil, fmt.Errorf("read local key of %s: %w", st.Device, err)
		}
		files = append(files, namedFile{certstore.KeyFile, key})
	}
	return append(files,
		namedFile{certstore.CAFile, p.rootCA},
		namedFile{ConfigFile, AgentConfig(st.Thing, p.fleet.RoleAlias, ep, p.a.region)},
	), nil
}

// alreadyUploaded reports whether the object holds data: from the local
// record, or with a recheck from its ETag (the MD5 of a single-part upload).
func (p *provisioner) alreadyUploaded(ctx context.Context, st *deviceState, name string, data []byte, sum string) (bool, error) {
	if !p.recheck {
		return st.Uploaded[name] == sum, nil
	}
	head, err := p.a.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(st.Bucket),
		Key: aws.String(AuthorizationPrefix(st.Device) + name)})
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("head s3://%s/%s%s: %w", st.Bucket, AuthorizationPrefix(st.Device), name, err)
	}
	md := md5.Sum(data)
	return strings.Trim(aws.ToString(head.ETag), `"`) == hex.EncodeToString(md[:]), nil
}

func (a *Admin) putObject(ctx context.Context, bucket, key string, data []byte) error {
	_, err := a.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data),
		ContentLength:        aws.Int64(int64(len(data))),
		ServerSideEncryption: s3types.ServerSideEncryptionAes256,
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// authFiles are a device's files as found in S3; missing ones are empty.
type authFiles struct {
	Cert, Key, CA, Config []byte
}

func (a *Admin) downloadFiles(ctx context.Context, bucket, prefix string) (authFiles, error) {
	var f authFiles
	for name, dst := range map[string]*[]byte{certstore.CertFile: &f.Cert, certstore.KeyFile: &f.Key,
		certstore.CAFile: &f.CA, ConfigFile: &f.Config} {
		b, err := a.getObject(ctx, bucket, prefix+name)
		if err != nil {
			return authFiles{}, err
		}
		*dst = b
	}
	return f, nil
}

// getObject returns an object's content, or nil when it does not exist.
func (a *Admin) getObject(ctx context.Context, bucket, key string) ([]byte, error) {
	out, err := a.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()

	b, err := io.ReadAll(io.LimitReader(out.Body, certstore.MaxFileSize))
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	return b, nil
}

// deletePrefix deletes every object under prefix; it reports how many.
func (a *Admin) deletePrefix(ctx context.Context, bucket, prefix string) (int, error) {
	return a.walkPrefix(ctx, bucket, prefix, true)
}

// walkPrefix counts the objects under prefix, deleting them when del is
// set.
func (a *Admin) walkPrefix(ctx context.Context, bucket, prefix string, del bool) (int, error) {
	n := 0
	pg := s3.NewListObjectsV2Paginator(a.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if isNotFound(err) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, obj := range page.Contents {
			if !del {
				n++
				continue
			}
			if _, err := a.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: obj.Key}); err != nil {
				return n, fmt.Errorf("delete s3://%s/%s: %w", bucket, aws.ToString(obj.Key), err)
			}
			n++
		}
	}
	return n, nil
}

// certificateID returns the IoT ID of a PEM certificate (the hex SHA-256 of
// its DER), or "".
func certificateID(certPEM []byte) string {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return ""
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:])
}

// certificateIDFromARN returns the ID at the end of arn:...:cert/<id>.
func certificateIDFromARN(arn string) string {
	_, id, _ := strings.Cut(arn, ":cert/")
	return id
}
