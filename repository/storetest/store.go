// Package storetest is the conformance suite every huizong store passes:
// the same tests run against the embedded SQLite store and against MongoDB
// (FerretDB in the test binary, or a real MongoDB when
// HUIZONG_TEST_MONGODB_URI is set). A behaviour not tested here is not
// guaranteed by the stores.
package storetest

import (
	"context"

	"github.com/huizong/huizong/services"
)

// Store is everything a huizong store provides.
type Store interface {
	services.OrgStore
	services.UserStore
	services.SessionStore
	services.KeyStore
	services.IdempotencyStore
	services.TemplateStore
	services.RecordStore
	services.AttachmentStore
	services.TaskStore
	services.TotalsStore
	services.AuditStore
	services.IndicatorStore
	services.ExtensionStore
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Name names the store ("sqlite" or "mongodb").
	Name() string
	// Close releases the store.
	Close() error
}
