"""paget-ctc-clusters: a third-party paget plugin for circulating tumour cell clusters.

The plugin module is :mod:`paget_ctc_clusters.plugin`, registered as
``ctc_clusters`` in the entry-point group ``paget``; its parameters live in the
``[ctc_clusters]`` configuration table.  Installed but not configured, it
changes nothing (``cluster_fraction = 0``).
"""
__version__ = "0.1.0"
