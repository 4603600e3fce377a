"""Chinese for the routing strings (conversations.routing); the lead merges these."""

ZH = {
    "sticky: previous agent %(agent)s online": "固定分配：上次接待的客服 %(agent)s 在线",
    "least-busy: %(agent)s has %(open)s/%(capacity)s open": "最空闲优先：%(agent)s 当前 %(open)s/%(capacity)s 个会话",
    "round-robin: %(agent)s waited longest for a conversation": "轮流分配：%(agent)s 距上次分配最久",
    "queued: no agent online": "进入排队：没有在线客服",
    "queued: every online agent is at capacity": "进入排队：在线客服均已满负荷",
    "from the queue after %(seconds)s s: %(choice)s": "排队 %(seconds)s 秒后分配：%(choice)s",
    "timeout after %(seconds)s s, moved from %(from)s to %(to)s": "%(seconds)s 秒未响应，从 %(from)s 转给 %(to)s",
    "timeout after %(seconds)s s, no other agent available for %(from)s's conversation: queued":
        "%(seconds)s 秒未响应，%(from)s 的会话没有其他可用客服：进入排队",
    "timeout after %(seconds)s s (%(moves)s moves): back to the head of the queue":
        "%(seconds)s 秒未响应（已转移 %(moves)s 次）：回到队首",
    "claimed by %(agent)s": "%(agent)s 领取了会话",
    "claimed by %(agent)s by replying": "%(agent)s 通过回复领取了会话",
    "transferred from %(from)s to %(to)s by %(actor)s": "%(actor)s 将会话从 %(from)s 转给 %(to)s",
    "transferred to team %(team)s by %(actor)s": "%(actor)s 将会话转给团队 %(team)s",
    "resolved by %(actor)s": "%(actor)s 将会话标为已解决",
    "auto-resolved after %(minutes)s min of silence": "%(minutes)s 分钟无消息，自动解决",
    "reopened by %(actor)s": "%(actor)s 重新打开了会话",
    "reopened: the visitor wrote again": "访客再次发言，会话重新打开",
    "the bot handed over: %(reason)s": "机器人转人工：%(reason)s",
    "nobody": "无人",
    "the visitor asked for a person": "访客要求人工服务",
    "no confident answer": "没有把握的答案",
    "the visitor seems upset": "访客情绪不佳",
    "the answer needs an agent": "该问题需要人工处理",
}
