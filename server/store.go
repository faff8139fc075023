package server

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/postgres"
	"github.com/parley-sip/parley/location/redis"
)

// openStore opens the location store the config names: the embedded file
// store in the data directory, or a shared Redis or PostgreSQL store. A
// shared store must answer at start (within its timeouts): a server that
// cannot reach its registrations says so at once rather than answering
// every REGISTER 503.
func openStore(cfg *config.Config) (location.Store, error) {
	switch cfg.Store.Kind() {
	case config.StoreRedis:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := redis.Open(ctx, string(cfg.Store), redis.Options{
			PoolSize:    cfg.StorePoolSize,
			DialTimeout: cfg.StoreDialTimeout.D(),
			Timeout:     cfg.StoreTimeout.D(),
		})
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", cfg.Store, err)
		}
		return s, nil
	case config.StorePostgres:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := postgres.Open(ctx, string(cfg.Store), postgres.Options{
			PoolSize:    cfg.StorePoolSize,
			DialTimeout: cfg.StoreDialTimeout.D(),
			Timeout:     cfg.StoreTimeout.D(),
		})
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", cfg.Store, err)
		}
		return s, nil
	}
	opts := location.FileOptions{}
	if cfg.DataSync != "always" {
		opts.SyncPeriod = time.Second
	}
	s, err := location.OpenFile(filepath.Join(cfg.Data, "location"), opts)
	if err != nil {
		return nil, fmt.Errorf("data %s: %w", cfg.Data, err)
	}
	return s, nil
}
