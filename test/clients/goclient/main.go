// Command goclient is the Go SDK v2 as an edge-agent client in the
// test/clients integration tests: it loads the default configuration (so the
// default credential chain decides where credentials come from), lists a
// bucket, and prints one JSON line per listing with the access key ID it
// signed with. It never prints a secret.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// result is one line of output.
type result struct {
	AccessKeyID string   `json:"access_key_id"`
	Keys        []string `json:"keys"`
}

func main() {
	endpoint := flag.String("endpoint", "", "S3 endpoint URL (path-style)")
	bucket := flag.String("bucket", "", "bucket to list")
	until := flag.Duration("until-rotated", 0, "list repeatedly until the access key changes, at most this long")
	every := flag.Duration("every", 500*time.Millisecond, "pause between listings with -until-rotated")
	flag.Parse()

	if err := run(*endpoint, *bucket, *until, *every); err != nil {
		fmt.Fprintln(os.Stderr, "goclient:", err)
		os.Exit(1)
	}
}

func run(endpoint, bucket string, until, every time.Duration) error {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load default config: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})

	first, err := list(ctx, cfg, client, bucket)
	if err != nil || until == 0 {
		return err
	}

	deadline := time.Now().Add(until)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for range tick.C {
		id, err := list(ctx, cfg, client, bucket)
		if err != nil {
			return err
		}
		if id != first {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("access key %s still in use after %s", first, until)
		}
	}
	return nil
}

// list lists bucket with client and prints the key ID the listing used.
func list(ctx context.Context, cfg aws.Config, client *s3.Client, bucket string) (string, error) {
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		return "", fmt.Errorf("list bucket %s: %w", bucket, err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("retrieve credentials: %w", err)
	}

	r := result{AccessKeyID: creds.AccessKeyID}
	for _, o := range out.Contents {
		r.Keys = append(r.Keys, aws.ToString(o.Key))
	}
	return r.AccessKeyID, json.NewEncoder(os.Stdout).Encode(r)
}
