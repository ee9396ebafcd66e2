"""The engine process: the wire protocol's server side and the op handlers that call the stages.

``engine`` (socket, auth, dispatch, lanes), ``connection`` (one client), ``ops`` (declarations
and validation), ``jobs`` (a request in flight), ``device_queue`` (batched device work),
``model_cache`` (loaded models within a memory budget), ``handlers`` (one module per group of
ops), ``workers`` (the processes isolated stages run in), ``payloads`` (the memory budget for
request payloads), ``logs`` (the rotating log file). The protocol itself is
``faceplate_client.protocol``.
"""
