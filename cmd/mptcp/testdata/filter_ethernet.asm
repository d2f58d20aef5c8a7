(000) ldh      [12]
(001) ldx      #0xe
(002) jeq      #0x800           jt 20	jf 3
(003) jeq      #0x86dd          jt 34	jf 4
(004) jeq      #0x8100          jt 7	jf 5
(005) jeq      #0x88a8          jt 7	jf 6
(006) jeq      #0x9100          jt 7	jf 18
(007) ldh      [16]
(008) ldx      #0x12
(009) jeq      #0x800           jt 20	jf 10
(010) jeq      #0x86dd          jt 34	jf 11
(011) jeq      #0x8100          jt 14	jf 12
(012) jeq      #0x88a8          jt 14	jf 13
(013) jeq      #0x9100          jt 14	jf 18
(014) ldh      [20]
(015) ldx      #0x16
(016) jeq      #0x800           jt 20	jf 17
(017) jeq      #0x86dd          jt 34	jf 18
(018) ret      #0
(019) ret      #262144
(020) ldb      [x + 0]
(021) and      #0xf0
(022) jeq      #0x40            jt 23	jf 132
(023) ldb      [x + 9]
(024) jeq      #0x6             jt 25	jf 132
(025) ldh      [x + 6]
(026) jset     #0x1fff          jt 132	jf 27
(027) ldb      [x + 0]
(028) and      #0xf
(029) lsh      #2
(030) jge      #0x14            jt 31	jf 132
(031) add      x
(032) tax
(033) ja       134
(034) ldb      [x + 0]
(035) and      #0xf0
(036) jeq      #0x60            jt 37	jf 132
(037) ldb      [x + 6]
(038) st       M[2]
(039) txa
(040) add      #0x28
(041) tax
(042) ld       M[2]
(043) jeq      #0x6             jt 134	jf 44
(044) jeq      #0x2c            jt 57	jf 45
(045) jeq      #0x0             jt 48	jf 46
(046) jeq      #0x2b            jt 48	jf 47
(047) jeq      #0x3c            jt 48	jf 132
(048) ldb      [x + 0]
(049) st       M[2]
(050) ldb      [x + 1]
(051) add      #0x1
(052) lsh      #3
(053) add      x
(054) tax
(055) ld       M[2]
(056) ja       65
(057) ldh      [x + 2]
(058) jset     #0xfff8          jt 132	jf 59
(059) ldb      [x + 0]
(060) st       M[2]
(061) txa
(062) add      #0x8
(063) tax
(064) ld       M[2]
(065) jeq      #0x6             jt 134	jf 66
(066) jeq      #0x2c            jt 79	jf 67
(067) jeq      #0x0             jt 70	jf 68
(068) jeq      #0x2b            jt 70	jf 69
(069) jeq      #0x3c            jt 70	jf 132
(070) ldb      [x + 0]
(071) st       M[2]
(072) ldb      [x + 1]
(073) add      #0x1
(074) lsh      #3
(075) add      x
(076) tax
(077) ld       M[2]
(078) ja       87
(079) ldh      [x + 2]
(080) jset     #0xfff8          jt 132	jf 81
(081) ldb      [x + 0]
(082) st       M[2]
(083) txa
(084) add      #0x8
(085) tax
(086) ld       M[2]
(087) jeq      #0x6             jt 134	jf 88
(088) jeq      #0x2c            jt 101	jf 89
(089) jeq      #0x0             jt 92	jf 90
(090) jeq      #0x2b            jt 92	jf 91
(091) jeq      #0x3c            jt 92	jf 132
(092) ldb      [x + 0]
(093) st       M[2]
(094) ldb      [x + 1]
(095) add      #0x1
(096) lsh      #3
(097) add      x
(098) tax
(099) ld       M[2]
(100) ja       109
(101) ldh      [x + 2]
(102) jset     #0xfff8          jt 132	jf 103
(103) ldb      [x + 0]
(104) st       M[2]
(105) txa
(106) add      #0x8
(107) tax
(108) ld       M[2]
(109) jeq      #0x6             jt 134	jf 110
(110) jeq      #0x2c            jt 123	jf 111
(111) jeq      #0x0             jt 114	jf 112
(112) jeq      #0x2b            jt 114	jf 113
(113) jeq      #0x3c            jt 114	jf 132
(114) ldb      [x + 0]
(115) st       M[2]
(116) ldb      [x + 1]
(117) add      #0x1
(118) lsh      #3
(119) add      x
(120) tax
(121) ld       M[2]
(122) ja       131
(123) ldh      [x + 2]
(124) jset     #0xfff8          jt 132	jf 125
(125) ldb      [x + 0]
(126) st       M[2]
(127) txa
(128) add      #0x8
(129) tax
(130) ld       M[2]
(131) jeq      #0x6             jt 134	jf 132
(132) ret      #0
(133) ret      #262144
(134) ldb      [x + 12]
(135) and      #0xf0
(136) rsh      #2
(137) add      x
(138) st       M[0]
(139) sub      #0x1
(140) st       M[1]
(141) ldb      [x + 13]
(142) jset     #0x7             jt 212	jf 143
(143) txa
(144) add      #0x14
(145) tax
(146) ld       M[0]
(147) jgt      x                jt 148	jf 211
(148) ldb      [x + 0]
(149) jeq      #0x1e            jt 212	jf 150
(150) jeq      #0x1             jt 151	jf 155
(151) txa
(152) add      #0x1
(153) tax
(154) ja       162
(155) jeq      #0x0             jt 211	jf 156
(156) ld       M[1]
(157) jgt      x                jt 158	jf 211
(158) ldb      [x + 1]
(159) jge      #0x2             jt 160	jf 211
(160) add      x
(161) tax
(162) ld       M[0]
(163) jgt      x                jt 164	jf 211
(164) ldb      [x + 0]
(165) jeq      #0x1e            jt 212	jf 166
(166) jeq      #0x1             jt 167	jf 171
(167) txa
(168) add      #0x1
(169) tax
(170) ja       178
(171) jeq      #0x0             jt 211	jf 172
(172) ld       M[1]
(173) jgt      x                jt 174	jf 211
(174) ldb      [x + 1]
(175) jge      #0x2             jt 176	jf 211
(176) add      x
(177) tax
(178) ld       M[0]
(179) jgt      x                jt 180	jf 211
(180) ldb      [x + 0]
(181) jeq      #0x1e            jt 212	jf 182
(182) jeq      #0x1             jt 183	jf 187
(183) txa
(184) add      #0x1
(185) tax
(186) ja       194
(187) jeq      #0x0             jt 211	jf 188
(188) ld       M[1]
(189) jgt      x                jt 190	jf 211
(190) ldb      [x + 1]
(191) jge      #0x2             jt 192	jf 211
(192) add      x
(193) tax
(194) ld       M[0]
(195) jgt      x                jt 196	jf 211
(196) ldb      [x + 0]
(197) jeq      #0x1e            jt 212	jf 198
(198) jeq      #0x1             jt 199	jf 203
(199) txa
(200) add      #0x1
(201) tax
(202) ja       210
(203) jeq      #0x0             jt 211	jf 204
(204) ld       M[1]
(205) jgt      x                jt 206	jf 211
(206) ldb      [x + 1]
(207) jge      #0x2             jt 208	jf 211
(208) add      x
(209) tax
(210) ja       213
(211) ret      #0
(212) ret      #262144
(213) ld       M[0]
(214) jgt      x                jt 215	jf 278
(215) ldb      [x + 0]
(216) jeq      #0x1e            jt 279	jf 217
(217) jeq      #0x1             jt 218	jf 222
(218) txa
(219) add      #0x1
(220) tax
(221) ja       229
(222) jeq      #0x0             jt 278	jf 223
(223) ld       M[1]
(224) jgt      x                jt 225	jf 278
(225) ldb      [x + 1]
(226) jge      #0x2             jt 227	jf 278
(227) add      x
(228) tax
(229) ld       M[0]
(230) jgt      x                jt 231	jf 278
(231) ldb      [x + 0]
(232) jeq      #0x1e            jt 279	jf 233
(233) jeq      #0x1             jt 234	jf 238
(234) txa
(235) add      #0x1
(236) tax
(237) ja       245
(238) jeq      #0x0             jt 278	jf 239
(239) ld       M[1]
(240) jgt      x                jt 241	jf 278
(241) ldb      [x + 1]
(242) jge      #0x2             jt 243	jf 278
(243) add      x
(244) tax
(245) ld       M[0]
(246) jgt      x                jt 247	jf 278
(247) ldb      [x + 0]
(248) jeq      #0x1e            jt 279	jf 249
(249) jeq      #0x1             jt 250	jf 254
(250) txa
(251) add      #0x1
(252) tax
(253) ja       261
(254) jeq      #0x0             jt 278	jf 255
(255) ld       M[1]
(256) jgt      x                jt 257	jf 278
(257) ldb      [x + 1]
(258) jge      #0x2             jt 259	jf 278
(259) add      x
(260) tax
(261) ld       M[0]
(262) jgt      x                jt 263	jf 278
(263) ldb      [x + 0]
(264) jeq      #0x1e            jt 279	jf 265
(265) jeq      #0x1             jt 266	jf 270
(266) txa
(267) add      #0x1
(268) tax
(269) ja       277
(270) jeq      #0x0             jt 278	jf 271
(271) ld       M[1]
(272) jgt      x                jt 273	jf 278
(273) ldb      [x + 1]
(274) jge      #0x2             jt 275	jf 278
(275) add      x
(276) tax
(277) ja       280
(278) ret      #0
(279) ret      #262144
(280) ld       M[0]
(281) jgt      x                jt 282	jf 345
(282) ldb      [x + 0]
(283) jeq      #0x1e            jt 346	jf 284
(284) jeq      #0x1             jt 285	jf 289
(285) txa
(286) add      #0x1
(287) tax
(288) ja       296
(289) jeq      #0x0             jt 345	jf 290
(290) ld       M[1]
(291) jgt      x                jt 292	jf 345
(292) ldb      [x + 1]
(293) jge      #0x2             jt 294	jf 345
(294) add      x
(295) tax
(296) ld       M[0]
(297) jgt      x                jt 298	jf 345
(298) ldb      [x + 0]
(299) jeq      #0x1e            jt 346	jf 300
(300) jeq      #0x1             jt 301	jf 305
(301) txa
(302) add      #0x1
(303) tax
(304) ja       312
(305) jeq      #0x0             jt 345	jf 306
(306) ld       M[1]
(307) jgt      x                jt 308	jf 345
(308) ldb      [x + 1]
(309) jge      #0x2             jt 310	jf 345
(310) add      x
(311) tax
(312) ld       M[0]
(313) jgt      x                jt 314	jf 345
(314) ldb      [x + 0]
(315) jeq      #0x1e            jt 346	jf 316
(316) jeq      #0x1             jt 317	jf 321
(317) txa
(318) add      #0x1
(319) tax
(320) ja       328
(321) jeq      #0x0             jt 345	jf 322
(322) ld       M[1]
(323) jgt      x                jt 324	jf 345
(324) ldb      [x + 1]
(325) jge      #0x2             jt 326	jf 345
(326) add      x
(327) tax
(328) ld       M[0]
(329) jgt      x                jt 330	jf 345
(330) ldb      [x + 0]
(331) jeq      #0x1e            jt 346	jf 332
(332) jeq      #0x1             jt 333	jf 337
(333) txa
(334) add      #0x1
(335) tax
(336) ja       344
(337) jeq      #0x0             jt 345	jf 338
(338) ld       M[1]
(339) jgt      x                jt 340	jf 345
(340) ldb      [x + 1]
(341) jge      #0x2             jt 342	jf 345
(342) add      x
(343) tax
(344) ja       347
(345) ret      #0
(346) ret      #262144
(347) ld       M[0]
(348) jgt      x                jt 349	jf 412
(349) ldb      [x + 0]
(350) jeq      #0x1e            jt 413	jf 351
(351) jeq      #0x1             jt 352	jf 356
(352) txa
(353) add      #0x1
(354) tax
(355) ja       363
(356) jeq      #0x0             jt 412	jf 357
(357) ld       M[1]
(358) jgt      x                jt 359	jf 412
(359) ldb      [x + 1]
(360) jge      #0x2             jt 361	jf 412
(361) add      x
(362) tax
(363) ld       M[0]
(364) jgt      x                jt 365	jf 412
(365) ldb      [x + 0]
(366) jeq      #0x1e            jt 413	jf 367
(367) jeq      #0x1             jt 368	jf 372
(368) txa
(369) add      #0x1
(370) tax
(371) ja       379
(372) jeq      #0x0             jt 412	jf 373
(373) ld       M[1]
(374) jgt      x                jt 375	jf 412
(375) ldb      [x + 1]
(376) jge      #0x2             jt 377	jf 412
(377) add      x
(378) tax
(379) ld       M[0]
(380) jgt      x                jt 381	jf 412
(381) ldb      [x + 0]
(382) jeq      #0x1e            jt 413	jf 383
(383) jeq      #0x1             jt 384	jf 388
(384) txa
(385) add      #0x1
(386) tax
(387) ja       395
(388) jeq      #0x0             jt 412	jf 389
(389) ld       M[1]
(390) jgt      x                jt 391	jf 412
(391) ldb      [x + 1]
(392) jge      #0x2             jt 393	jf 412
(393) add      x
(394) tax
(395) ld       M[0]
(396) jgt      x                jt 397	jf 412
(397) ldb      [x + 0]
(398) jeq      #0x1e            jt 413	jf 399
(399) jeq      #0x1             jt 400	jf 404
(400) txa
(401) add      #0x1
(402) tax
(403) ja       411
(404) jeq      #0x0             jt 412	jf 405
(405) ld       M[1]
(406) jgt      x                jt 407	jf 412
(407) ldb      [x + 1]
(408) jge      #0x2             jt 409	jf 412
(409) add      x
(410) tax
(411) ja       414
(412) ret      #0
(413) ret      #262144
(414) ld       M[0]
(415) jgt      x                jt 416	jf 479
(416) ldb      [x + 0]
(417) jeq      #0x1e            jt 480	jf 418
(418) jeq      #0x1             jt 419	jf 423
(419) txa
(420) add      #0x1
(421) tax
(422) ja       430
(423) jeq      #0x0             jt 479	jf 424
(424) ld       M[1]
(425) jgt      x                jt 426	jf 479
(426) ldb      [x + 1]
(427) jge      #0x2             jt 428	jf 479
(428) add      x
(429) tax
(430) ld       M[0]
(431) jgt      x                jt 432	jf 479
(432) ldb      [x + 0]
(433) jeq      #0x1e            jt 480	jf 434
(434) jeq      #0x1             jt 435	jf 439
(435) txa
(436) add      #0x1
(437) tax
(438) ja       446
(439) jeq      #0x0             jt 479	jf 440
(440) ld       M[1]
(441) jgt      x                jt 442	jf 479
(442) ldb      [x + 1]
(443) jge      #0x2             jt 444	jf 479
(444) add      x
(445) tax
(446) ld       M[0]
(447) jgt      x                jt 448	jf 479
(448) ldb      [x + 0]
(449) jeq      #0x1e            jt 480	jf 450
(450) jeq      #0x1             jt 451	jf 455
(451) txa
(452) add      #0x1
(453) tax
(454) ja       462
(455) jeq      #0x0             jt 479	jf 456
(456) ld       M[1]
(457) jgt      x                jt 458	jf 479
(458) ldb      [x + 1]
(459) jge      #0x2             jt 460	jf 479
(460) add      x
(461) tax
(462) ld       M[0]
(463) jgt      x                jt 464	jf 479
(464) ldb      [x + 0]
(465) jeq      #0x1e            jt 480	jf 466
(466) jeq      #0x1             jt 467	jf 471
(467) txa
(468) add      #0x1
(469) tax
(470) ja       478
(471) jeq      #0x0             jt 479	jf 472
(472) ld       M[1]
(473) jgt      x                jt 474	jf 479
(474) ldb      [x + 1]
(475) jge      #0x2             jt 476	jf 479
(476) add      x
(477) tax
(478) ja       481
(479) ret      #0
(480) ret      #262144
(481) ld       M[0]
(482) jgt      x                jt 483	jf 546
(483) ldb      [x + 0]
(484) jeq      #0x1e            jt 547	jf 485
(485) jeq      #0x1             jt 486	jf 490
(486) txa
(487) add      #0x1
(488) tax
(489) ja       497
(490) jeq      #0x0             jt 546	jf 491
(491) ld       M[1]
(492) jgt      x                jt 493	jf 546
(493) ldb      [x + 1]
(494) jge      #0x2             jt 495	jf 546
(495) add      x
(496) tax
(497) ld       M[0]
(498) jgt      x                jt 499	jf 546
(499) ldb      [x + 0]
(500) jeq      #0x1e            jt 547	jf 501
(501) jeq      #0x1             jt 502	jf 506
(502) txa
(503) add      #0x1
(504) tax
(505) ja       513
(506) jeq      #0x0             jt 546	jf 507
(507) ld       M[1]
(508) jgt      x                jt 509	jf 546
(509) ldb      [x + 1]
(510) jge      #0x2             jt 511	jf 546
(511) add      x
(512) tax
(513) ld       M[0]
(514) jgt      x                jt 515	jf 546
(515) ldb      [x + 0]
(516) jeq      #0x1e            jt 547	jf 517
(517) jeq      #0x1             jt 518	jf 522
(518) txa
(519) add      #0x1
(520) tax
(521) ja       529
(522) jeq      #0x0             jt 546	jf 523
(523) ld       M[1]
(524) jgt      x                jt 525	jf 546
(525) ldb      [x + 1]
(526) jge      #0x2             jt 527	jf 546
(527) add      x
(528) tax
(529) ld       M[0]
(530) jgt      x                jt 531	jf 546
(531) ldb      [x + 0]
(532) jeq      #0x1e            jt 547	jf 533
(533) jeq      #0x1             jt 534	jf 538
(534) txa
(535) add      #0x1
(536) tax
(537) ja       545
(538) jeq      #0x0             jt 546	jf 539
(539) ld       M[1]
(540) jgt      x                jt 541	jf 546
(541) ldb      [x + 1]
(542) jge      #0x2             jt 543	jf 546
(543) add      x
(544) tax
(545) ja       548
(546) ret      #0
(547) ret      #262144
(548) ld       M[0]
(549) jgt      x                jt 550	jf 613
(550) ldb      [x + 0]
(551) jeq      #0x1e            jt 614	jf 552
(552) jeq      #0x1             jt 553	jf 557
(553) txa
(554) add      #0x1
(555) tax
(556) ja       564
(557) jeq      #0x0             jt 613	jf 558
(558) ld       M[1]
(559) jgt      x                jt 560	jf 613
(560) ldb      [x + 1]
(561) jge      #0x2             jt 562	jf 613
(562) add      x
(563) tax
(564) ld       M[0]
(565) jgt      x                jt 566	jf 613
(566) ldb      [x + 0]
(567) jeq      #0x1e            jt 614	jf 568
(568) jeq      #0x1             jt 569	jf 573
(569) txa
(570) add      #0x1
(571) tax
(572) ja       580
(573) jeq      #0x0             jt 613	jf 574
(574) ld       M[1]
(575) jgt      x                jt 576	jf 613
(576) ldb      [x + 1]
(577) jge      #0x2             jt 578	jf 613
(578) add      x
(579) tax
(580) ld       M[0]
(581) jgt      x                jt 582	jf 613
(582) ldb      [x + 0]
(583) jeq      #0x1e            jt 614	jf 584
(584) jeq      #0x1             jt 585	jf 589
(585) txa
(586) add      #0x1
(587) tax
(588) ja       596
(589) jeq      #0x0             jt 613	jf 590
(590) ld       M[1]
(591) jgt      x                jt 592	jf 613
(592) ldb      [x + 1]
(593) jge      #0x2             jt 594	jf 613
(594) add      x
(595) tax
(596) ld       M[0]
(597) jgt      x                jt 598	jf 613
(598) ldb      [x + 0]
(599) jeq      #0x1e            jt 614	jf 600
(600) jeq      #0x1             jt 601	jf 605
(601) txa
(602) add      #0x1
(603) tax
(604) ja       612
(605) jeq      #0x0             jt 613	jf 606
(606) ld       M[1]
(607) jgt      x                jt 608	jf 613
(608) ldb      [x + 1]
(609) jge      #0x2             jt 610	jf 613
(610) add      x
(611) tax
(612) ja       615
(613) ret      #0
(614) ret      #262144
(615) ld       M[0]
(616) jgt      x                jt 617	jf 680
(617) ldb      [x + 0]
(618) jeq      #0x1e            jt 681	jf 619
(619) jeq      #0x1             jt 620	jf 624
(620) txa
(621) add      #0x1
(622) tax
(623) ja       631
(624) jeq      #0x0             jt 680	jf 625
(625) ld       M[1]
(626) jgt      x                jt 627	jf 680
(627) ldb      [x + 1]
(628) jge      #0x2             jt 629	jf 680
(629) add      x
(630) tax
(631) ld       M[0]
(632) jgt      x                jt 633	jf 680
(633) ldb      [x + 0]
(634) jeq      #0x1e            jt 681	jf 635
(635) jeq      #0x1             jt 636	jf 640
(636) txa
(637) add      #0x1
(638) tax
(639) ja       647
(640) jeq      #0x0             jt 680	jf 641
(641) ld       M[1]
(642) jgt      x                jt 643	jf 680
(643) ldb      [x + 1]
(644) jge      #0x2             jt 645	jf 680
(645) add      x
(646) tax
(647) ld       M[0]
(648) jgt      x                jt 649	jf 680
(649) ldb      [x + 0]
(650) jeq      #0x1e            jt 681	jf 651
(651) jeq      #0x1             jt 652	jf 656
(652) txa
(653) add      #0x1
(654) tax
(655) ja       663
(656) jeq      #0x0             jt 680	jf 657
(657) ld       M[1]
(658) jgt      x                jt 659	jf 680
(659) ldb      [x + 1]
(660) jge      #0x2             jt 661	jf 680
(661) add      x
(662) tax
(663) ld       M[0]
(664) jgt      x                jt 665	jf 680
(665) ldb      [x + 0]
(666) jeq      #0x1e            jt 681	jf 667
(667) jeq      #0x1             jt 668	jf 672
(668) txa
(669) add      #0x1
(670) tax
(671) ja       679
(672) jeq      #0x0             jt 680	jf 673
(673) ld       M[1]
(674) jgt      x                jt 675	jf 680
(675) ldb      [x + 1]
(676) jge      #0x2             jt 677	jf 680
(677) add      x
(678) tax
(679) ja       682
(680) ret      #0
(681) ret      #262144
(682) ld       M[0]
(683) jgt      x                jt 684	jf 747
(684) ldb      [x + 0]
(685) jeq      #0x1e            jt 748	jf 686
(686) jeq      #0x1             jt 687	jf 691
(687) txa
(688) add      #0x1
(689) tax
(690) ja       698
(691) jeq      #0x0             jt 747	jf 692
(692) ld       M[1]
(693) jgt      x                jt 694	jf 747
(694) ldb      [x + 1]
(695) jge      #0x2             jt 696	jf 747
(696) add      x
(697) tax
(698) ld       M[0]
(699) jgt      x                jt 700	jf 747
(700) ldb      [x + 0]
(701) jeq      #0x1e            jt 748	jf 702
(702) jeq      #0x1             jt 703	jf 707
(703) txa
(704) add      #0x1
(705) tax
(706) ja       714
(707) jeq      #0x0             jt 747	jf 708
(708) ld       M[1]
(709) jgt      x                jt 710	jf 747
(710) ldb      [x + 1]
(711) jge      #0x2             jt 712	jf 747
(712) add      x
(713) tax
(714) ld       M[0]
(715) jgt      x                jt 716	jf 747
(716) ldb      [x + 0]
(717) jeq      #0x1e            jt 748	jf 718
(718) jeq      #0x1             jt 719	jf 723
(719) txa
(720) add      #0x1
(721) tax
(722) ja       730
(723) jeq      #0x0             jt 747	jf 724
(724) ld       M[1]
(725) jgt      x                jt 726	jf 747
(726) ldb      [x + 1]
(727) jge      #0x2             jt 728	jf 747
(728) add      x
(729) tax
(730) ld       M[0]
(731) jgt      x                jt 732	jf 747
(732) ldb      [x + 0]
(733) jeq      #0x1e            jt 748	jf 734
(734) jeq      #0x1             jt 735	jf 739
(735) txa
(736) add      #0x1
(737) tax
(738) ja       746
(739) jeq      #0x0             jt 747	jf 740
(740) ld       M[1]
(741) jgt      x                jt 742	jf 747
(742) ldb      [x + 1]
(743) jge      #0x2             jt 744	jf 747
(744) add      x
(745) tax
(746) ja       749
(747) ret      #0
(748) ret      #262144
(749) ld       M[0]
(750) jgt      x                jt 751	jf 813
(751) ldb      [x + 0]
(752) jeq      #0x1e            jt 814	jf 753
(753) jeq      #0x1             jt 754	jf 758
(754) txa
(755) add      #0x1
(756) tax
(757) ja       765
(758) jeq      #0x0             jt 813	jf 759
(759) ld       M[1]
(760) jgt      x                jt 761	jf 813
(761) ldb      [x + 1]
(762) jge      #0x2             jt 763	jf 813
(763) add      x
(764) tax
(765) ld       M[0]
(766) jgt      x                jt 767	jf 813
(767) ldb      [x + 0]
(768) jeq      #0x1e            jt 814	jf 769
(769) jeq      #0x1             jt 770	jf 774
(770) txa
(771) add      #0x1
(772) tax
(773) ja       781
(774) jeq      #0x0             jt 813	jf 775
(775) ld       M[1]
(776) jgt      x                jt 777	jf 813
(777) ldb      [x + 1]
(778) jge      #0x2             jt 779	jf 813
(779) add      x
(780) tax
(781) ld       M[0]
(782) jgt      x                jt 783	jf 813
(783) ldb      [x + 0]
(784) jeq      #0x1e            jt 814	jf 785
(785) jeq      #0x1             jt 786	jf 790
(786) txa
(787) add      #0x1
(788) tax
(789) ja       797
(790) jeq      #0x0             jt 813	jf 791
(791) ld       M[1]
(792) jgt      x                jt 793	jf 813
(793) ldb      [x + 1]
(794) jge      #0x2             jt 795	jf 813
(795) add      x
(796) tax
(797) ld       M[0]
(798) jgt      x                jt 799	jf 813
(799) ldb      [x + 0]
(800) jeq      #0x1e            jt 814	jf 801
(801) jeq      #0x1             jt 802	jf 806
(802) txa
(803) add      #0x1
(804) tax
(805) ja       813
(806) jeq      #0x0             jt 813	jf 807
(807) ld       M[1]
(808) jgt      x                jt 809	jf 813
(809) ldb      [x + 1]
(810) jge      #0x2             jt 811	jf 813
(811) add      x
(812) tax
(813) ret      #0
(814) ret      #262144
