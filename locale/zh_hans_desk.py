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
    # Quick replies (workspace picker and dialog, API, model)
    "Write a reply. Enter sends, Shift+Enter starts a new line, / picks a quick reply.":
        "输入回复。回车发送，Shift+回车换行，输入 / 选择快捷回复。",
    "Quick replies: ↑ ↓ to choose, Enter to insert, Esc to close": "快捷回复：↑ ↓ 选择，回车插入，Esc 关闭",
    "Quick replies": "快捷回复",
    "Type / at the start of a reply to insert one. {visitor_name}, {agent_name} and {merchant_name} are filled in.":
        "在回复开头输入 / 即可插入。{visitor_name}、{agent_name}、{merchant_name} 会自动替换为访客名、客服名和商户名。",
    "No quick replies yet.": "还没有快捷回复。",
    "No quick replies yet. Add one with “Quick replies”.": "还没有快捷回复，可在“快捷回复”中添加。",
    "No quick reply matches.": "没有匹配的快捷回复。",
    "Shortcut": "快捷码",
    "Title (optional)": "标题（可选）",
    "Text": "内容",
    "Only for me (unticked: shared with every agent)": "仅自己使用（不勾选则全体客服共享）",
    "Close": "关闭",
    "Add": "添加",
    "Save": "保存",
    "Edit": "编辑",
    "Delete": "删除",
    "Mine": "我的",
    "Shared": "共享",
    "used %s×": "已用 %s 次",
    "Delete the quick reply /%s?": "删除快捷回复 /%s？",
    "Only the merchant's owners and admins manage shared quick replies.": "只有商户的所有者和管理员可以管理共享快捷回复。",
    "This shortcut is already used.": "该快捷码已被使用。",
    "An API token cannot own personal replies.": "API 令牌不能拥有个人快捷回复。",
    "owner": "所属客服",
    "Empty: every agent of the merchant may use it. Else only this agent.": "留空：商户的所有客服都可使用；否则仅该客服可用。",
    "title": "标题",
    "times used": "使用次数",
    "updated at": "更新时间",
}
