package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"kubedesk.dev/kubedesk/launcher/launchapi"
)

// sessionAPI is what the agent needs of the spawner service's session
// routes. serviceClient is the real one; tests fake it with httptest.
type sessionAPI interface {
	// Catalog is the session's catalog as its menus show it: no image,
	// command or resources, which stay with the service.
	Catalog(ctx context.Context) ([]launchapi.CatalogApp, error)
	Launch(ctx context.Context, req launchapi.LaunchRequest) (launchapi.App, error)
	List(ctx context.Context) ([]launchapi.App, error)
	Get(ctx context.Context, id string) (launchapi.App, error)
	Stop(ctx context.Context, id string) error
}

// serviceClient calls /api/v1/session/* with the session token, read from
// its file on every call.
type serviceClient struct {
	base      string // without a trailing slash
	tokenFile string
	hc        *http.Client
}

func newServiceClient(base, tokenFile string, hc *http.Client) *serviceClient {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &serviceClient{base: strings.TrimRight(base, "/"), tokenFile: tokenFile, hc: hc}
}

func (s *serviceClient) Catalog(ctx context.Context) ([]launchapi.CatalogApp, error) {
	var list []launchapi.CatalogApp
	err := s.do(ctx, http.MethodGet, "/catalog", nil, &list)
	return list, err
}

func (s *serviceClient) Launch(ctx context.Context, req launchapi.LaunchRequest) (launchapi.App, error) {
	var a launchapi.App
	err := s.do(ctx, http.MethodPost, "/apps", req, &a)
	return a, err
}

func (s *serviceClient) List(ctx context.Context) ([]launchapi.App, error) {
	var list []launchapi.App
	err := s.do(ctx, http.MethodGet, "/apps", nil, &list)
	return list, err
}

func (s *serviceClient) Get(ctx context.Context, id string) (launchapi.App, error) {
	var a launchapi.App
	err := s.do(ctx, http.MethodGet, "/apps/"+url.PathEscape(id), nil, &a)
	return a, err
}

func (s *serviceClient) Stop(ctx context.Context, id string) error {
	return s.do(ctx, http.MethodDelete, "/apps/"+url.PathEscape(id), nil, nil)
}

// errUnreachable marks failures to get any answer from the service.
var errUnreachable = errors.New("service unreachable")

func (s *serviceClient) token() (string, error) {
	b, err := os.ReadFile(s.tokenFile)
	if err != nil {
		return "", fmt.Errorf("read the session token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("read the session token: %s is empty", s.tokenFile)
	}
	return t, nil
}

func (s *serviceClient) do(ctx context.Context, method, path string, in, out any) error {
	token, err := s.token()
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+"/api/v1/session"+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", errUnreachable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %w", method, path, launchapi.DecodeError(resp))
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}
