"""One module per scheduler plugin (KubeFleet ``pkg/scheduler/framework/plugins``)."""
