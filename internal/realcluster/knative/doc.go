// Package knative installs Knative Eventing v0.50.0 and this project's functions on a real
// cluster that has no registry and no Knative Serving.
//
// Eventing comes from the module's own config/ (core, the in-memory channel and the MT channel
// broker), with every ko:// reference turned into the local image ociimage builds for that
// import path and every container set to imagePullPolicy Never. This project's side is
// config/ and eventsources/ as they are, except the Knative Services of config/functions,
// which become a Deployment and a Service each (Serving's ingress needs Envoy, which nothing
// here provides), and the Trigger subscribers that name those Knative Services, which name the
// plain Services instead. Install applies objects in dependency order; WaitAvailable and
// WaitWebhooks wait for what a later step needs; InstallEventing installs Eventing and waits
// as a real cluster needs before this project's side is installed (Eventing's webhook must
// serve before the Broker is created: the Broker gets its class from it).
package knative
