package sessiontoken

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	issuer   = "kubedesk-spawner"
	audience = "kubedesk-session"
	// leeway absorbs clock skew between the service's replicas.
	leeway = 30 * time.Second
	// MinKeyBytes is the shortest signing key accepted: HMAC-SHA256 gains
	// nothing from longer keys and is weakened by shorter ones.
	MinKeyBytes = 32
)

// Claims identify one session.
type Claims struct {
	User   string `json:"usr"`
	Server string `json:"srv"`
	// SessionUID is the UID of the session's pod.
	SessionUID string `json:"sid"`
	jwt.RegisteredClaims
}

// Errors a caller can tell apart; the messages are for a person.
var (
	ErrExpired = errors.New("the session token has expired")
	ErrInvalid = errors.New("the session token is not valid")
)

// Signer mints and verifies session tokens.
type Signer struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewSigner returns a Signer with the given key and token lifetime.
func NewSigner(key []byte, ttl time.Duration) (*Signer, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("session signing key: %d bytes, need at least %d", len(key), MinKeyBytes)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("session token lifetime must be positive, got %s", ttl)
	}
	return &Signer{key: append([]byte(nil), key...), ttl: ttl, now: time.Now}, nil
}

// Mint signs a token for the session.
func (s *Signer) Mint(user, server, sessionUID string) (string, error) {
	now := s.now()
	claims := Claims{
		User: user, Server: server, SessionUID: sessionUID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   user,
			Audience:  jwt.ClaimStrings{audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.ttl)),
		},
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("sign session token: %w", err)
	}
	return token, nil
}

// Verify checks a token and returns its claims. It returns ErrExpired for an
// expired token and ErrInvalid (wrapping the cause) for anything else wrong.
func (s *Signer) Verify(token string) (*Claims, error) {
	var claims Claims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(audience),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(s.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrExpired
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	case claims.User == "" || claims.SessionUID == "":
		return nil, fmt.Errorf("%w: missing session claims", ErrInvalid)
	}
	return &claims, nil
}
