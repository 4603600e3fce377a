"""The one error type services raise. Views turn it into HTTP 400/404, consumers into an
`error` frame with the same code, so a rule is written once and reported the same way."""


class KefuError(Exception):
    status = 400

    def __init__(self, code: str, message: str, *, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class NotFound(KefuError):
    status = 404

    def __init__(self, message: str = "Not found."):
        super().__init__("not_found", message)
