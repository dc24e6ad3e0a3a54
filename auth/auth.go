// Package auth logs users in: it checks an e-mail and password against
// the users table and starts a session (a token pair). It answers an
// unknown e-mail and a wrong password identically, in content and in
// time, so that logins cannot be used to find out who is registered.
package auth

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/readapi/identity"
	"example.com/crm/tokens"
)

// Users finds the credentials of an e-mail (readapi/identity).
type Users interface {
	Credentials(ctx context.Context, email string) (identity.Credentials, bool, error)
}

// Passwords checks passwords (package passwords).
type Passwords interface {
	Check(hash, password string) (bool, error)
	CheckNothing(password string)
}

// Service logs users in.
type Service struct {
	users     Users
	passwords Passwords
	tokens    *tokens.Service
}

// New returns the login service.
func New(users Users, passwords Passwords, tokens *tokens.Service) *Service {
	return &Service{users: users, passwords: passwords, tokens: tokens}
}

// errInvalidCredentials is the one answer to every failed login.
func errInvalidCredentials() error {
	return crm.Errorf(crm.CodeInvalidCredentials, "e-mail or password is incorrect")
}

// Login checks email (trimmed, case-insensitive) and password and starts
// a session. An unknown e-mail still costs a bcrypt comparison (against a
// hash that matches nothing) and gets the same 401 INVALID_CREDENTIALS as
// a wrong password.
func (s *Service) Login(ctx context.Context, email, password string) (tokens.Pair, error) {
	c, found, err := s.users.Credentials(ctx, email)
	if err != nil {
		return tokens.Pair{}, fmt.Errorf("auth.Login: %w", err)
	}
	if !found {
		s.passwords.CheckNothing(password)
		return tokens.Pair{}, errInvalidCredentials()
	}
	ok, err := s.passwords.Check(c.PasswordHash, password)
	if err != nil {
		return tokens.Pair{}, fmt.Errorf("auth.Login: %w", err)
	}
	if !ok {
		return tokens.Pair{}, errInvalidCredentials()
	}
	return s.tokens.Issue(ctx, c.UserID)
}

// Start begins a session for a user who just proved who they are some
// other way (registration).
func (s *Service) Start(ctx context.Context, user uuid.UUID) (tokens.Pair, error) {
	return s.tokens.Issue(ctx, user)
}

// Refresh rotates a refresh token (see tokens.Service.Refresh).
func (s *Service) Refresh(ctx context.Context, refreshToken string) (tokens.Pair, error) {
	return s.tokens.Refresh(ctx, refreshToken)
}
