"""Chinese for the security strings (the login lockout page); the lead merges these."""

ZH = {
    "Too many sign-in attempts": "登录尝试次数过多",
    "Signing in is locked for this account or address after too many failed attempts. Try again later, or ask the administrator to unlock it.":
        "由于失败次数过多，此账号或地址的登录已被暂时锁定。请稍后再试，或请管理员解除锁定。",
    # Customer data: export, erasure, retention, the audit log.
    "Export the visitor's data (one visitor)": "导出访客数据（一次一位访客）",
    "Choose exactly one visitor to export.": "请只选择一位访客进行导出。",
    "Anonymise: remove texts and contact details, keep the figures": "匿名化：删除文字和联系方式，保留统计数据",
    "Delete the visitors with all their conversations": "删除访客及其全部会话",
    "Are you sure?": "确定吗？",
    "Customer data": "客户数据",
    "Anonymise (keep the figures, remove the person)": "匿名化（保留统计数据，去除个人信息）",
    "Conversations resolved longer ago than this are anonymised or deleted within the hour, with their messages and files. Empty: kept until you erase them.":
        "解决时间早于此天数的会话（连同消息和文件）会在一小时内被匿名化或删除。留空：一直保留，直到您手动删除。",
    "after that": "到期后",
    "store shortened visitor IP addresses": "只保存截短的访客 IP 地址",
    "Keep only the network part (IPv4 /24, IPv6 /48) of a visitor's address.": "只保留访客地址的网段部分（IPv4 /24，IPv6 /48）。",
    "who": "操作人",
    "what": "对象",
    "detail": "详情",
    "audit log": "审计日志",
    "These visitors will be deleted with all their conversations, messages and files. This cannot be undone.":
        "这些访客及其全部会话、消息和文件将被删除，且无法恢复。",
    "These visitors' names, contact details, page trail and every message text will be removed. The conversations stay, without text, for reports. This cannot be undone.":
        "这些访客的姓名、联系方式、浏览轨迹和所有消息文字将被删除。会话本身（不含文字）保留用于报表。此操作无法撤销。",
    "Yes, erase": "是的，删除",
    "No, take me back": "不，返回",
    "Visitors erased: %(n)s.": "已删除访客：%(n)s 位。",
    "Only owners and admins can export or erase a visitor.": "只有所有者和管理员可以导出或删除访客数据。",
    "anonymised at": "匿名化时间",
    "keep conversations for (days)": "会话保留天数",
    "audit entry": "审计记录",
}
