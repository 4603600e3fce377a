"""Chinese for webhooks (back office, API errors, the disabled-endpoint email) and the domain
event kinds they subscribe to; the lead merges these."""

ZH = {
    # Event kinds (conversations.models.ConversationEvent.Kind) and the new conversation fields
    "First reply": "首次回复",
    "Rating submitted": "提交评价",
    "Labels changed": "标签变更",
    "Conversation created": "会话已创建",
    "Conversation assigned": "会话已分配",
    "Conversation transferred": "会话已转接",
    "Conversation resolved": "会话已解决",
    "Conversation reopened": "会话已重新打开",
    "Message created": "新消息",
    "Visitor identified": "访客已识别",
    "conversation event": "会话事件",
    "conversation events": "会话事件",
    "rating comment": "评价留言",
    "rated at": "评价时间",
    "colour": "颜色",
    "label": "标签",
    "labels": "标签",
    "satisfaction rating": "满意度评分",
    # Models
    "Webhooks": "Webhook",
    "webhook endpoint": "Webhook 地址",
    "webhook endpoints": "Webhook 地址",
    "webhook delivery": "Webhook 投递",
    "webhook deliveries": "Webhook 投递",
    "delivery attempt": "投递尝试",
    "delivery attempts": "投递尝试",
    "failures in a row": "连续失败次数",
    "disabled at": "停用时间",
    "Sending": "发送中",
    "event": "事件",
    "delivered at": "送达时间",
    "HTTP status": "HTTP 状态码",
    "why disabled": "停用原因",
    "Delivered": "已送达",
    "endpoint": "地址",
    "attempts": "尝试次数",
    "next attempt at": "下次尝试时间",
    "last HTTP status": "最近 HTTP 状态码",
    "succeeded": "成功",
    "response (excerpt)": "响应（摘录）",
    "duration (ms)": "耗时（毫秒）",
    # Admin
    "Signing secret of this endpoint: %(secret)s  Copy it now: it will not be shown again.":
        "此地址的签名密钥：%(secret)s  请立即复制：之后不会再显示。",
    "Redeliver the selected deliveries": "重新投递所选项",
    "Deliveries queued again: %(count)d.": "已重新排队投递：%(count)d 条。",
    # API
    "Webhooks are managed by owners and admins.": "Webhook 仅由所有者和管理员管理。",
    # Disabling
    "%(count)d failed deliveries in a row.": "连续 %(count)d 次投递失败。",
    "Webhook endpoint disabled: %(url)s": "Webhook 地址已停用：%(url)s",
    "The webhook endpoint %(url)s was disabled: %(reason)s\n\n"
    "Check the delivery log in the back office (Webhooks), fix the receiver, then turn the "
    "endpoint on again and redeliver what failed.":
        "Webhook 地址 %(url)s 已停用：%(reason)s\n\n"
        "请在后台（Webhook）查看投递记录，修复接收端后重新启用该地址，并重新投递失败的项目。",
    "The endpoint is disabled.": "该地址已停用。",
    "idempotency key": "幂等键",
    "events": "事件",
    # API tokens: scope and rate limit
    "scope": "权限范围",
    "Read only": "只读",
    "Read and write": "读写",
    "requests per minute": "每分钟请求数",
    "Blank: the server's default (API_RATE_LIMIT).": "留空：使用服务器默认值（API_RATE_LIMIT）。",
    "This API token is read-only.": "此 API 令牌为只读。",
    # API: visitor custom attributes
    "%(key)s: keys are 1-50 letters, digits, _ . or -.": "%(key)s：键名为 1-50 个字母、数字、_ . 或 -。",
    "%(key)s: a value is text, a number, true/false or null.": "%(key)s：值只能是文本、数字、true/false 或 null。",
    "No such visitor.": "没有这个访客。",
    "Only for outbound conversations.": "仅用于主动发起的会话。",
    "At most %d attributes.": "最多 %d 个属性。",
    "%(key)s: at most 500 characters.": "%(key)s：最多 500 个字符。",
    "Events": "事件",
    "payload": "内容",
}
