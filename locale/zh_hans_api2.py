"""Chinese for the API round 2 (contacts, webhook secret rotation); the lead merges these."""

ZH = {
    # Webhook endpoints: rotating the signing secret (admin)
    "previous secret valid until": "旧密钥有效至",
    "Rotate the signing secret (the old one keeps signing for a grace period)":
        "轮换签名密钥（旧密钥在宽限期内继续签名）",
    "New signing secret of %(url)s: %(secret)s  Copy it now: it will not be shown again. "
    "Until %(until)s deliveries are signed with the old secret too, so your receiver can "
    "switch without missing one.":
        "%(url)s 的新签名密钥：%(secret)s  请立即复制，之后不会再显示。"
        "在 %(until)s 之前，推送也会附带旧密钥的签名，接收方可以从容切换，不会漏收。",
}
