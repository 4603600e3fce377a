"""Chinese for the security strings (the login lockout page); the lead merges these."""

ZH = {
    "Too many sign-in attempts": "登录尝试次数过多",
    "Signing in is locked for this account or address after too many failed attempts. Try again later, or ask the administrator to unlock it.":
        "由于失败次数过多，此账号或地址的登录已被暂时锁定。请稍后再试，或请管理员解除锁定。",
}
