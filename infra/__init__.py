"""Past one machine: the 400M plan, Ray cluster and KubeRay specs, torchrun and Ray Train."""
