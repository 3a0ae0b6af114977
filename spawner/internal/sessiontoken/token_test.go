package sessiontoken

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func signerAt(t *testing.T, at time.Time) *Signer {
	t.Helper()
	s, err := NewSigner(key, time.Hour)
	require.NoError(t, err)
	s.now = func() time.Time { return at }
	return s
}

func TestMintVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	s := signerAt(t, now)
	tok, err := s.Mint("Jörg", "gpu", "6f1c0c3e-uid")
	require.NoError(t, err)
	c, err := s.Verify(tok)
	require.NoError(t, err)
	assert.Equal(t, "Jörg", c.User)
	assert.Equal(t, "gpu", c.Server)
	assert.Equal(t, "6f1c0c3e-uid", c.SessionUID)
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	s := signerAt(t, now)
	good, err := s.Mint("alice", "", "uid-1")
	require.NoError(t, err)

	other, err := NewSigner([]byte("another-key-another-key-another-k"), time.Hour)
	require.NoError(t, err)
	forged, err := other.Mint("alice", "", "uid-1")
	require.NoError(t, err)

	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"usr": "alice", "sid": "uid-1", "aud": audience, "iss": issuer,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)

	wrongAud, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"usr": "alice", "sid": "uid-1", "aud": "someone-else", "iss": issuer,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}).SignedString(key)
	require.NoError(t, err)

	noExpiry, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"usr": "alice", "sid": "uid-1", "aud": audience, "iss": issuer,
		"iat": now.Unix()}).SignedString(key)
	require.NoError(t, err)

	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2]

	cases := map[string]struct {
		token string
		check func(*Signer)
		want  error
	}{
		"expired token":               {token: good, check: func(s *Signer) { s.now = func() time.Time { return now.Add(2 * time.Hour) } }, want: ErrExpired},
		"token signed by another key": {token: forged, want: ErrInvalid},
		"alg none":                    {token: none, want: ErrInvalid},
		"wrong audience":              {token: wrongAud, want: ErrInvalid},
		"no expiry":                   {token: noExpiry, want: ErrInvalid},
		"tampered payload":            {token: tampered, want: ErrInvalid},
		"garbage":                     {token: "not-a-token", want: ErrInvalid},
		"empty":                       {token: "", want: ErrInvalid},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := signerAt(t, now)
			if tc.check != nil {
				tc.check(v)
			}
			_, err := v.Verify(tc.token)
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

func TestNewSignerRefusesWeakSettings(t *testing.T) {
	t.Parallel()
	_, err := NewSigner([]byte("short"), time.Hour)
	assert.ErrorContains(t, err, "5 bytes, need at least 32")
	_, err = NewSigner(key, 0)
	assert.ErrorContains(t, err, "lifetime must be positive")
}
