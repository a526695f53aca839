// Command democlient reads AWS credentials the way an unmodified consumer on
// the device would, and prints the access key id and expiry it got. The demo
// uses it to show each of the agent's doors:
//
//	democlient -door socket -socket /run/edge-agent/agent.sock
//	democlient -door sdk        (AWS_CONTAINER_CREDENTIALS_FULL_URI and the token file)
//	democlient -door process    (an AWS_CONFIG_FILE profile with credential_process)
//
// With -bucket and -s3, an sdk or process client also lists that bucket with
// the credentials it got, which proves they sign requests S3 accepts.
//
// It never prints the secret key or the session token.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func main() {
	door := flag.String("door", "sdk", "socket, sdk or process")
	socket := flag.String("socket", "/run/edge-agent/agent.sock", "agent socket, for -door socket")
	profile := flag.String("profile", "", "AWS config profile, for -door process")
	bucket := flag.String("bucket", "", "bucket to list with the credentials (sdk and process doors)")
	s3URL := flag.String("s3", "", "S3 endpoint URL for -bucket")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	akid, exp, err := read(ctx, *door, *socket, *profile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "democlient: %s: %v\n", *door, err)
		os.Exit(1)
	}
	fmt.Printf("%-8s access_key_id=%s expires=%s\n", *door, akid, exp.UTC().Format(time.RFC3339))

	if *bucket != "" && *door != "socket" {
		n, err := list(ctx, *profile, *s3URL, *bucket)
		if err != nil {
			fmt.Fprintf(os.Stderr, "democlient: list s3://%s: %v\n", *bucket, err)
			os.Exit(1)
		}
		fmt.Printf("%-8s listed s3://%s with them: %d objects\n", *door, *bucket, n)
	}
}

// list counts the objects in bucket, signing with the default chain.
func list(ctx context.Context, profile, endpoint, bucket string) (int, error) {
	var opts []func(*config.LoadOptions) error
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return 0, err
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		return 0, err
	}
	return len(out.Contents), nil
}

func read(ctx context.Context, door, socket, profile string) (string, time.Time, error) {
	switch door {
	case "socket":
		return readSocket(ctx, socket)
	case "sdk", "process":
		var opts []func(*config.LoadOptions) error
		if profile != "" {
			opts = append(opts, config.WithSharedConfigProfile(profile))
		}
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return "", time.Time{}, err
		}
		creds, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			return "", time.Time{}, err
		}
		return creds.AccessKeyID, creds.Expires, nil
	}
	return "", time.Time{}, fmt.Errorf("unknown door %q", door)
}

func readSocket(ctx context.Context, path string) (string, time.Time, error) {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent/v1/credentials", nil)
	if err != nil {
		return "", time.Time{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", time.Time{}, err
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", time.Time{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", time.Time{}, fmt.Errorf("agent answered %s", resp.Status)
	}
	var c struct {
		AccessKeyID string    `json:"AccessKeyId"`
		Expiration  time.Time `json:"Expiration"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return "", time.Time{}, fmt.Errorf("decode credentials: %w", err)
	}
	return c.AccessKeyID, c.Expiration, nil
}
