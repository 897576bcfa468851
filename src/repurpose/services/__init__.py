"""The service layer: each use case written once, async and keyword-only, with no HTTP in it.

The gateway's routes call these functions with the replica's ``Services`` (a ``Context``); the
in-process client (``in_process.InProcessClient``) calls them with a ``Context`` of the cluster on
this machine. Both answer the client protocol (``contracts.client.RepurposeClient``) with the same
``contracts`` models and the same domain errors.

    module       use cases
    context      what a service needs: settings, grains, scorer, store, lookup caches
    lookups      the lookup caches: model references and target sequences
    in_process   InProcessClient: the client protocol over these services
    operations   readiness
    datasets     register, list, show, split dataset versions
    runs         start, list, show, cancel training runs
    models       list, show, promote, roll back, evaluate (classification, retrieval), model cards
    monitors     show a model's monitor (a window against its reference), its HTML page, reset
    targets      register, list, show target proteins
    scoring      predict, explain, profile
    libraries    register, list, show compound libraries
    screens      submit, list, show, read results, cancel screening jobs
    keys         make, list, revoke API keys
"""
