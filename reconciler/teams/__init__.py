"""Team repos: one fleet, several repos, boundaries the hub enforces object by object.

The platform repo (the fleet repo the hub watches) declares MemberClusters, fleet settings and
one ``Team`` per application team (``apiVersion: fleetsync.io/v1alpha1``, ``kind: Team``,
convention ``teams/NAME.yaml``; model.py). The hub reads every team repo at its head as a
source of its own, with its own last good commit (reconciler/hub/teams.py), confines what it
declares to the team's boundaries and merges it with the platform's objects (boundaries.py).
The boundary is drawn at render, per object, as Argo CD's AppProjects and Flux's tenants draw it
at sync: an object outside the boundary is refused alone (it keeps its last good state, like
any object that fails to load), and one team's error or broken commit never holds back the
platform or another team.

The rules a team object must follow (each refusal names its rule and the team):

- **Namespaces.** A team's namespaced objects — fleet objects (ResourcePlacement,
  ResourceOverride, StagedUpdateStrategy, StagedUpdateRun, ApprovalRequest, ResourceEnvelope)
  and plain objects alike — live in the namespaces its Team lists (``spec.namespaces``).
  Two teams never own one namespace, and ``default``, ``kube-*`` and ``fleet-*`` namespaces are
  never ownable (KubeFleet reserves them), so namespaced names cannot collide across teams.
- **Names.** A team's cluster-scoped fleet objects (ClusterResourcePlacement,
  ClusterResourceOverride, ClusterStagedUpdateStrategy, ClusterStagedUpdateRun,
  ClusterApprovalRequest, ClusterResourcePlacementEviction, ClusterResourcePlacementDisruptionBudget,
  ClusterResourceEnvelope) are named ``<team>-...``, and every reference they make to another
  cluster-scoped fleet object (a run's placement and strategy, an eviction's placement, an
  override's placement, an approval's run) names one of the team's own.
- **Kinds.** Plain namespaced objects must be of a kind ``spec.kinds`` lists as ``group/Kind``
  (``/ConfigMap`` for the core group; an empty list allows every namespaced kind). Plain
  cluster-scoped objects are refused except the Namespace objects of the team's own namespaces
  and the kinds ``spec.clusterScopedKinds`` lists; a ClusterResourceEnvelope must be listed there
  too (``placement.kubernetes-fleet.io/ClusterResourceEnvelope``) and wraps only objects the team
  could declare itself. The platform's policies
  (fleetsync.yaml ``policies``) gate team objects like any other.
- **Selection.** A team ClusterResourcePlacement selects by name: Namespaces the team owns,
  and objects of its allowed cluster-scoped kinds; a ClusterResourceOverride selects the same.
  A selected cluster-scoped object that the platform or another team declares refuses the
  selecting object (overrides of one team never touch another team's objects).
- **Clusters.** A team placement is scheduled only onto clusters its ``spec.clusterSelector``
  matches (absent: every cluster). PickAll and PickN narrow silently, as a ClusterSet does; a
  PickFixed placement naming a cluster outside is refused.
- **What a team repo may not declare.** MemberClusters and Team objects are refused;
  a ``fleetsync.yaml`` in a team repo is ignored with a warning (settings are the platform's).
- **Collisions.** A team object with the identity of a platform object is refused (the platform
  wins); two teams declaring one identity are both refused, each finding naming both files.
- **Limits.** ``spec.limits.objectsPerCluster`` and ``spec.limits.bundleBytes`` (the canonical
  YAML of its objects) bound what the team puts on one cluster: a team over either on a cluster
  keeps its bindings there as they were (nothing of it changes on that cluster) and its status
  record lists the cluster under ``limited``; other clusters and other teams move on.
- **The Team itself.** ``spec.repo.url`` is ``git://``, ``https://``, ``ssh://`` or an absolute
  local path, without credentials (no password, no user name but ssh's login, no query: each
  may be a token; the hub fetches with its own ``FLEETSYNC_GIT_*`` credentials, and only once a verified, loaded platform commit names the repo); ``branch`` (default
  ``main``) is a ref name; ``path`` a relative directory without ``..``. A Team that does not
  load, a namespace two teams claim, or more than 500 teams hold the platform commit (repo
  scope): a Team that does not load must never look like a removed one.

Removing a Team file removes the team's objects, through the hub's prune-safety rules
(reconciler/hub/prunesafety.py); a team repo that cannot be fetched, or whose head does not
load, is not a removal: the team keeps its last good objects.
"""
