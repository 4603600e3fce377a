"""Chinese for the agent desk (workspace composer, notifications, transfer dialog, quick replies,
back-office branding); the lead merges these."""

ZH = {
    # Branding and the language switch
    "Mozhongkefu back office": "墨中客服后台",
    "Switch": "切换",
    # Composer: Reply / Note tabs
    "Message kind": "消息类型",
    "Reply": "回复",
    "Private note": "内部备注",
    "Only agents see notes; the visitor does not.": "备注仅客服可见，访客看不到。",
    "Add note": "添加备注",
    # Visitor pane, header, toasts, transfer
    "Checking…": "查询中…",
    "Mood": "情绪",
    "%s more notifications (dismiss all)": "还有 %s 条通知（全部关闭）",
    "%s notifications": "%s 条通知",
    "%s — %s online": "%s — %s 人在线",
}
