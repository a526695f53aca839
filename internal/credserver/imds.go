package credserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// IMDS paths and headers, as EC2's instance metadata service (v2) has them.
const (
	imdsTokenPath  = "/latest/api/token"
	imdsCredsPath  = "/latest/meta-data/iam/security-credentials/"
	imdsTTLHeader  = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	imdsTokHeader  = "X-Aws-Ec2-Metadata-Token"
	imdsMaxTTL     = 21600
	imdsTokenBytes = 8 + sha256.Size
)

// imdsCreds is the EC2 instance-profile credentials format.
type imdsCreds struct {
	Code            string `json:"Code"`
	LastUpdated     string `json:"LastUpdated"`
	Type            string `json:"Type"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
}

// imds returns the handler of the IMDSv2-compatible door. It answers only
// what the SDKs' instance-profile providers ask: a session token, the role
// list and the role's credentials. IMDSv1 (no token) is refused, and so is
// any request carrying X-Forwarded-For or a Host that is not loopback, as a
// guard against proxies and DNS rebinding. [Server.ServeIMDS] puts the
// owner check (tcpPeerCheck) in front of it.
func (s *Server) imds(log *zap.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Forwarded-For") != "" {
			s.refuse(log, w, r, http.StatusForbidden, CodeForbidden,
				"requests through a proxy (X-Forwarded-For) are refused")
			return
		}
		if !loopbackHost(r.Host) {
			s.refuse(log, w, r, http.StatusForbidden, CodeForbidden,
				"the Host header must be a loopback address")
			return
		}
		if !s.checkSize(log, w, r) {
			return
		}

		if r.URL.Path == imdsTokenPath {
			s.imdsToken(log, w, r)
			return
		}
		s.imdsGet(log, w, r)
	})
}

// imdsToken answers PUT /latest/api/token.
func (s *Server) imdsToken(log *zap.Logger, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", http.MethodPut)
		s.refuse(log, w, r, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use PUT for a token")
		return
	}

	ttl, err := strconv.Atoi(r.Header.Get(imdsTTLHeader))
	if err != nil || ttl < 1 || ttl > imdsMaxTTL {
		s.refuse(log, w, r, http.StatusBadRequest, CodeBadRequest,
			imdsTTLHeader+" must be a number of seconds from 1 to 21600")
		return
	}

	w.Header().Set(imdsTTLHeader, strconv.Itoa(ttl))
	tok := s.imdsIssue(s.now().Add(time.Duration(ttl) * time.Second))
	writeBody(w, http.StatusOK, "text/plain", []byte(tok))
}

// imdsGet answers the credentials paths, after the token check.
func (s *Server) imdsGet(log *zap.Logger, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		s.refuse(log, w, r, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use GET")
		return
	}
	if !s.imdsValid(r.Header.Get(imdsTokHeader)) {
		s.refuse(log, w, r, http.StatusUnauthorized, CodeUnauthorized,
			"a valid session token is required (IMDSv2): PUT "+imdsTokenPath+" first")
		return
	}

	name, ok := strings.CutPrefix(r.URL.Path, imdsCredsPath)
	switch {
	case !ok || (name != "" && name != s.roleName):
		s.refuse(log, w, r, http.StatusNotFound, CodeNotFound, "not served by edge-agent")
	case name == "":
		writeBody(w, http.StatusOK, "text/plain", []byte(s.roleName))
	default:
		s.imdsCredentials(log, w, r)
	}
}

func (s *Server) imdsCredentials(log *zap.Logger, w http.ResponseWriter, r *http.Request) {
	c, ok := s.validCredentials(log, w, r)
	if !ok {
		return
	}

	log.Debug("served credentials", zap.String("access_key_id", c.AccessKeyID),
		zap.Time("expiration", c.Expiration))
	writeJSON(w, http.StatusOK, imdsCreds{
		Code:            "Success",
		LastUpdated:     rfc3339(s.now()),
		Type:            "AWS-HMAC",
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		Token:           c.SessionToken,
		Expiration:      rfc3339(c.Expiration),
	})
}

// imdsIssue returns a session token valid until exp: the expiry and its HMAC
// under a key that lives only in this process, so no state is kept per token.
func (s *Server) imdsIssue(exp time.Time) string {
	buf := make([]byte, 8, imdsTokenBytes)
	binary.BigEndian.PutUint64(buf, uint64(exp.Unix()))
	return base64.RawURLEncoding.EncodeToString(s.imdsMAC(buf))
}

// imdsMAC appends the HMAC of msg to msg.
func (s *Server) imdsMAC(msg []byte) []byte {
	m := hmac.New(sha256.New, s.imdsKey)
	m.Write(msg[:8])
	return m.Sum(msg[:8])
}

// imdsValid reports whether tok was issued by this process and has not
// expired.
func (s *Server) imdsValid(tok string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) != imdsTokenBytes {
		return false
	}
	if !hmac.Equal(raw, s.imdsMAC(append([]byte(nil), raw[:8]...))) {
		return false
	}

	exp := time.Unix(int64(binary.BigEndian.Uint64(raw)), 0)
	return s.now().Before(exp)
}

// loopbackHost reports whether host (with or without a port) names
// loopback: an IP literal or "localhost".
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
