// Package knative installs Knative Eventing and Serving v0.50.0, Traefik as Serving's ingress,
// and this project's functions on a real cluster that has no registry.
//
// Eventing comes from the module's own config/ (core, the in-memory channel and the MT channel
// broker), Serving from its config/core with the networking and caching CRDs its release
// bundles, both with every ko:// reference turned into the local image ociimage builds for that
// import path and every container set to imagePullPolicy Never. Serving is then configured as
// Traefik's Knative provider docs tell an installer (ingress class, domain) plus the settings
// of ServingSettings. Traefik's RBAC comes from its module's docs, its Deployment and Services
// from test/e2e/traefik. This project's side is config/ and eventsources/ exactly as they are
// (the Knative Services of config/functions included), but for local images.
//
// Install applies objects in dependency order; WaitAvailable and WaitWebhooks wait for what a
// later step needs; InstallPlatform installs Eventing, Serving and Traefik together and waits
// as a real cluster needs before this project's side is installed (the webhooks must serve
// before the Broker and the Knative Services are created: they get their defaults from them).
package knative
