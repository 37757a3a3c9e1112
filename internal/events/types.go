package events

// Incoming event types, as Knative sources set them.
const (
	// TypeResourceAdd is sent by an ApiServerSource (mode Resource) when an object is created,
	// and for every existing object when the source starts watching.
	TypeResourceAdd = "dev.knative.apiserver.resource.add"
	// TypeResourceUpdate is sent by an ApiServerSource (mode Resource) on every change of an object.
	TypeResourceUpdate = "dev.knative.apiserver.resource.update"
	// TypeResourceDelete is sent by an ApiServerSource (mode Resource) when an object is deleted;
	// its data is the last known state of the object.
	TypeResourceDelete = "dev.knative.apiserver.resource.delete"
	// TypePing is sent by a PingSource on its schedule (the sweep's tick).
	TypePing = "dev.knative.sources.ping"
)

// Our event types. The trailing version changes only when the data schema changes incompatibly.
const (
	// TypeTransitioned is the reply a function sends after moving a job to a new phase.
	TypeTransitioned = "dev.mlops.notebookvalidationjob.transitioned.v1"
	// TypeBuildReport is POSTed by an external CI system that built a job's image.
	TypeBuildReport = "dev.mlops.notebookvalidationjob.build.v1"
)

// ApiServerSource extension attributes copied from the object, so Triggers can filter on them.
const (
	ExtKind       = "kind"
	ExtAPIVersion = "apiversion"
	ExtName       = "name"
	ExtNamespace  = "namespace"
)

// Extension attributes of TypeTransitioned, so Triggers can filter on the job and its phases.
const (
	ExtJobNamespace  = "nvjnamespace"
	ExtJobName       = "nvjname"
	ExtPhase         = "nvjphase"
	ExtPreviousPhase = "nvjpreviousphase"
)
