package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"time"
)

// URLSource fetches each file from its own presigned HTTPS URL. The URLs'
// query strings carry signatures, so messages show only scheme, host and
// path.
type URLSource struct {
	// URLs maps file names ([certstore.CertFile], ...) to URLs.
	URLs map[string]string
	// Client makes the requests; nil means a client with a 60 s timeout.
	Client *http.Client
}

var s3CodeRE = regexp.MustCompile(`<Code>([A-Za-z]{1,64})</Code>`)

// Fetch GETs the URL for name, at most limit bytes.
func (u URLSource) Fetch(ctx context.Context, name string, limit int64) ([]byte, error) {
	raw, ok := u.URLs[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w: no URL given for it", name, ErrNotFound)
	}
	target, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("URL for %s does not parse; pass the whole presigned URL in quotes", name)
	}
	safe := Redact(target)
	if target.Scheme != "https" {
		return nil, fmt.Errorf("URL for %s (%s) must be https", name, safe)
	}

	resp, err := u.get(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("GET %s (%s): %w", safe, name, err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp, safe, name); err != nil {
		return nil, err
	}
	if resp.ContentLength > limit {
		return nil, tooLarge(safe, resp.ContentLength, limit)
	}
	return readCapped(resp.Body, limit, safe)
}

// get sends the request and strips the URL from transport errors, which
// would otherwise print the whole presigned URL.
func (u URLSource) get(ctx context.Context, target *url.URL) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return nil, errors.New("cannot build the request")
	}
	c := u.Client
	if c == nil {
		c = &http.Client{Timeout: 60 * time.Second}
	}
	resp, err := c.Do(req)
	var ue *url.Error
	if errors.As(err, &ue) {
		return nil, ue.Err
	}
	return resp, err
}

func checkStatus(resp *http.Response, safe, name string) error {
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	code := ""
	if body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096)); body != nil {
		if m := s3CodeRE.FindSubmatch(body); m != nil {
			code = " " + string(m[1])
		}
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("GET %s (%s): %w (HTTP 404%s); check that the object was uploaded under that key", safe, name, ErrNotFound, code)
	case http.StatusForbidden:
		return fmt.Errorf("GET %s (%s): %w (HTTP 403%s); the presigned URL has expired (they last at most 7 days) or was signed for another key or region: generate a new one", safe, name, ErrAccessDenied, code)
	}
	return fmt.Errorf("GET %s (%s): HTTP %d%s", safe, name, resp.StatusCode, code)
}

// String describes the source without the URLs.
func (u URLSource) String() string { return "presigned URLs" }

// Redact returns u as scheme://host/path, without user info, query string
// or fragment, which may carry signatures.
func Redact(u *url.URL) string {
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return c.String()
}
