# Chinese for the strings of routing surfaces (helper R2): business hours, the widget's
# availability and leave-a-message form, the routing REST API and the routing back office.
ZH = {
    # conversations/services/messages.py (routing event reasons)
    "left a message outside business hours": "在营业时间外留言",
    "left a message: no agent online": "留言：没有客服在线",
    "left a message": "留言",
    # widget/views.py (the form's own strings are the UI helper's, in zh_hans_ui.py)
    "Enter a valid email address.": "请输入有效的邮箱地址。",
    "Give an email address or a phone number.": "请填写邮箱地址或电话号码。",
    "Thank you, your message has reached our team. We will reply to %(contact)s as soon as we "
    "can; replies also appear here in the chat.":
        "谢谢，您的留言已送达我们的团队。我们会尽快回复到 %(contact)s；回复也会显示在这个聊天窗口中。",
    "We are back %(when)s (%(timezone)s time).": "我们将于 %(when)s（%(timezone)s 时间）恢复服务。",
    "You have left several messages already. We will answer them; please try again later.":
        "您已经留了多条消息，我们会逐一回复；请稍后再试。",
    # conversations/serializers/, conversations/apis/
    "Give either to_user_id or to_team_id.": "请提供 to_user_id 或 to_team_id 其中之一。",
    "With a login session you can only act as yourself.": "使用登录会话时只能以自己的身份操作。",
    "Required with an API token: the agent who acts.": "使用 API 令牌时必填：执行操作的客服。",
    # merchants/admin.py
    "Routing": "分配规则",
    "Business hours and offline messages": "营业时间与留言",
    "Weekly hours and holidays are edited below, in the merchant's time zone.":
        "每周营业时间和节假日在下方编辑，按商户所在时区计算。",
    "Notifications": "通知",
    "Bot": "机器人",
    "now": "当前",
    "Always open (business hours are off).": "全天营业（未启用营业时间）。",
    "Open now.": "正在营业。",
    "Closed: no opening hours in the coming year.": "已打烊：未来一年内没有营业时间。",
    "Closed; opens %(when)s (%(timezone)s).": "已打烊；将于 %(when)s（%(timezone)s）开始营业。",
    "weekly business hours (several intervals a day allowed)": "每周营业时间（每天可设多个时段）",
    "holidays and special days (blank hours: closed all day)": "节假日与特殊日期（时间留空表示全天休息）",
    "members": "成员",
    "Choose teams of the same merchant.": "请选择同一商户的技能组。",
    # conversations/admin/
    "routing timeline": "分配记录",
    "Set it to open or resolved here.": "此处只能设为进行中或已解决。",
    "To unassign, transfer the conversation to a team (the team's routing picks the next agent, "
    "or it waits in the queue).":
        "如需取消分配，请将会话转给一个技能组（由该组的分配规则选择下一位客服，或进入排队）。",
    "Transfer it to another team instead.": "请改为转给另一个技能组。",
}
