"""Chinese for the strings of agent notifications and escalation (notifications/services.py,
notifications/templates/notifications/email/escalation.*)."""

ZH = {
    "New conversation from %(visitor)s": "%(visitor)s 发起了新会话",
    "%(visitor)s is waiting in the queue": "%(visitor)s 正在排队等待",
    "%(visitor)s is waiting for a reply": "%(visitor)s 正在等待回复",
    "%(visitor)s is back in the queue after timeouts": "%(visitor)s 多次超时未接待，已回到队列",
    "%(visitor)s left a message": "%(visitor)s 留言了",
    "Open the conversation to answer.": "打开会话进行回复。",
    "A visitor of %(merchant)s needs an agent.": "%(merchant)s 有访客需要客服接待。",
    "Last message:": "最新消息：",
    "Open the conversation:": "打开会话：",
    "Open the conversation": "打开会话",
    "You get this email because email escalation is on in your membership settings.":
        "您收到此邮件，是因为您的成员设置中开启了邮件提醒。",
    # The Notification model and the escalation preferences (models by the lead; labels used in
    # SMS texts and the admin).
    "New conversation": "新会话",
    "Visitor waiting in the queue": "访客正在排队",
    "Unanswered message": "消息未回复",
    "Returned to the queue after timeouts": "多次超时后回到队列",
    "Message left": "访客留言",
    "In the workspace": "工作台内",
    "SMS": "短信",
    "channel": "渠道",
    "reason": "原因",
    "sent": "已发送",
    "error": "错误",
    "notification": "通知",
    "notifications": "通知",
    "mobile phone": "手机号",
    "escalate by SMS": "短信提醒",
    "escalate by email": "邮件提醒",
    "SMS / email escalation delay (seconds)": "短信/邮件提醒延迟（秒）",
    "A new, queued or unanswered conversation is escalated to on-duty agents by SMS and/or "
    "email (per their preference) after this delay.":
        "新会话、排队中或未回复的会话在此延迟后，按客服的偏好通过短信和/或邮件提醒值班客服。",
}
