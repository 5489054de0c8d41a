// Package repository is the home of huizong's stores: repository/sqlite
// (the embedded default) and repository/mongo (production and scale), and
// repository/storetest, the one conformance suite both must pass.
package repository
