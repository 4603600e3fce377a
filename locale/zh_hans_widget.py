"""Chinese for the visitor widget's status line and polish (widget.views.widget_strings); the
lead merges these."""

ZH = {
    # The status line
    "We are online: an agent will answer you here.": "客服在线，会在这里回复您。",
    "Our agents are away right now; we will reply as soon as we can.": "客服暂时离开，我们会尽快回复您。",
    "No agent is online right now.": "当前没有客服在线。",
    "We are closed right now.": "现在是非工作时间。",
    "An agent is with you.": "客服正在为您服务。",
    "Leave us a message": "给我们留言",
    # The character counter, the title flash
    "%(count)s / %(max)s": "%(count)s / %(max)s",
    "%(count)s / %(max)s: %(over)s characters too many. Shorten the message to send it.":
        "%(count)s / %(max)s：超出 %(over)s 个字，请删减后再发送。",
    "New message": "新消息",
}
