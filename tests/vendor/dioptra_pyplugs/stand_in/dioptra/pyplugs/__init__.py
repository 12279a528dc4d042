"""Stand-in for Dioptra's ``dioptra.pyplugs`` package, which its tests name as data: a package
with no plugin modules.  It is not Dioptra's pyplugs and exports nothing."""
