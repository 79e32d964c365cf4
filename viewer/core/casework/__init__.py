"""Case work and evidence integrity (issue #6): annotations, chain of custody, CloudTrail digest
validation, reports, evidence bundles and exports with provenance. Qt-free; the CLI and the GUI
are thin faces over these modules."""
